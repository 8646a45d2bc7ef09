"""The studio's server side and `monetgan interpolate`: routes over real HTTP, traversal refused,
downloads equal to `monetgan paint`'s files, walks, the command-line one-liners, and a load test."""

from __future__ import annotations

import http.client
import importlib.util
import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

pytest.importorskip("starlette", reason="the studio extra is not installed: pip install -e '.[test]'")
pytest.importorskip("uvicorn", reason="the studio extra is not installed: pip install -e '.[test]'")

from conftest import write_paintings  # noqa: E402
from monetgan.nets.sampling import latents_for_seeds  # noqa: E402
from monetgan.painting.interpolate import interpolate, keyframe_indices, lerp, slerp, walk_frames, walk_latents  # noqa: E402
from monetgan.painting.paint import paint, pick_generator  # noqa: E402
from monetgan.studio.app import create_app  # noqa: E402
from monetgan.studio.server import running_server, studio_parts  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def get(url: str) -> tuple[int, bytes, dict]:
    try:
        with urllib.request.urlopen(url, timeout=60) as r:
            return r.status, r.read(), dict(r.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), dict(exc.headers)


def raw_get(base: str, path: str) -> tuple[int, bytes]:
    """GET with the path sent byte for byte (urllib and httpx would normalise `..` away)."""
    host, port = base.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        conn.putrequest("GET", path, skip_accept_encoding=True)
        conn.endheaders()
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


@pytest.fixture(scope="module")
def studio(tiny_run):
    """A studio over the tiny run: painter 0 is the bundled one, painter 1 the run's latest checkpoint."""
    run, _ = tiny_run
    painters, runs, stylizers = studio_parts([run])
    with running_server(create_app(painters, runs, stylizers)) as url:
        yield url, painters, run


# ---- downloads equal monetgan paint --------------------------------------------------------------

def test_download_is_byte_identical_to_paint_with_seed_and_checkpoint_metadata(studio, tmp_path):
    url, _, run = studio
    written = paint(run, num=3, seed=5, out=tmp_path / "p")
    for seed, path in zip((5, 6, 7), written):
        status, body, headers = get(f"{url}/api/paint/1/{seed}.png?download=1")
        assert status == 200 and headers["content-type"] == "image/png"
        assert headers["content-disposition"] == f'attachment; filename="seed{seed:06d}.png"'
        assert body == path.read_bytes()
    with Image.open(written[1]) as img:
        assert img.text["Seed"] == "6"
        checkpoint = sorted((run / "checkpoints").iterdir())[-1].resolve()
        assert img.text["Painter"] == f"checkpoint {checkpoint} (EMA generator)"


def test_bundled_download_is_256_px_and_equals_paint(studio, tmp_path):
    url, _, _ = studio
    [path] = paint(num=1, seed=11, out=tmp_path / "b")
    status, body, _ = get(f"{url}/api/paint/0/11.png")
    assert status == 200 and body == path.read_bytes()
    with Image.open(path) as img:
        assert img.size == (256, 256) and img.text["Seed"] == "11" and img.text["Painter"] == "bundled monet"


def test_a_seed_paints_the_same_whatever_paint_batches_it_with(tmp_path):
    # The bundled painter on CPU rounds differently in a batch of 16 than alone; paint() paints each
    # seed by its own forward pass, so --seed 3 --num 16 and --seed 5 --num 1 agree on seed 5.
    many = paint(num=16, seed=3, out=tmp_path / "many")
    for i, path in enumerate(many):
        [one] = paint(num=1, seed=3 + i, out=tmp_path / f"one{i}")
        assert path.read_bytes() == one.read_bytes(), f"seed {3 + i}"


# ---- routes and traversal -----------------------------------------------------------------------

@pytest.fixture
def served_run(tmp_path):
    """A hand-made run folder with a frame, a symlink to a secret outside it and one inside it."""
    run = tmp_path / "run"
    (run / "frames").mkdir(parents=True)
    Image.new("RGB", (8, 8), (10, 20, 30)).save(run / "frames" / "step-000001.png")
    (run / "config.json").write_text(json.dumps({"steps": 100}))
    secret = tmp_path / "secret.png"
    secret.write_bytes(b"SECRET-OUTSIDE-THE-RUN")
    (run / "frames" / "step-000002.png").symlink_to(secret)
    (run / "frames" / "step-000003.png").symlink_to(run / "frames" / "step-000001.png")
    (run / "outside").symlink_to(tmp_path, target_is_directory=True)
    (run / "checkpoints").mkdir()
    (run / "checkpoints" / "weights.pt").write_bytes(b"pickle-ish")
    painters, runs, stylizers = studio_parts([run])
    with running_server(create_app(painters, runs, stylizers)) as url:
        yield url, run


@pytest.mark.parametrize("path", [
    "/runs/0/files/../../secret.png",
    "/runs/0/files/frames/../../secret.png",
    "/runs/0/files/%2e%2e/secret.png",
    "/runs/0/files/%2e%2e%2fsecret.png",
    "/runs/0/files/frames%2f%2e%2e%2f%2e%2e%2fsecret.png",
    "/runs/0/files/%252e%252e%252fsecret.png",
    "/runs/0/files//etc/passwd",
    "/runs/0/files/%2fetc%2fpasswd",
    "/runs/0/files/frames/step-000002.png",      # a symlink pointing out of the run folder
    "/runs/0/files/outside/secret.png",          # a folder symlink pointing out
    "/runs/0/files/checkpoints/weights.pt",      # inside, but not a kind of file the page needs
    "/runs/1/files/config.json",                 # no run 1
    "/runs/-1/files/config.json",
])
def test_traversal_and_outside_files_are_refused(served_run, path):
    url, _ = served_run
    status, body = raw_get(url, path)
    assert status in (403, 404, 400)
    assert b"SECRET" not in body and b"root:" not in body


def test_files_inside_the_run_folder_are_served(served_run):
    url, run = served_run
    status, body = raw_get(url, "/runs/0/files/frames/step-000001.png")
    assert status == 200 and body == (run / "frames" / "step-000001.png").read_bytes()
    status, body = raw_get(url, "/runs/0/files/frames/step-000003.png")  # a symlink that stays inside
    assert status == 200 and body == (run / "frames" / "step-000001.png").read_bytes()
    assert raw_get(url, "/runs/0/files/frames%2fstep-000001.png")[0] == 200


def test_page_and_static_files_and_bad_queries(studio):
    url, _, _ = studio
    status, body, headers = get(url + "/")
    assert status == 200 and b"studio.js" in body and "no-store" in headers["cache-control"]
    assert get(url + "/static/studio.js")[0] == 200 and get(url + "/static/studio.css")[0] == 200
    assert get(url + "/static/../app.py")[0] == 404
    info = json.loads(get(url + "/api/info")[1])
    assert [p["index"] for p in info["painters"]] == [0, 1] and info["runs"][0]["index"] == 0
    assert get(url + "/api/paint/7/1.png")[0] == 404                      # no painter 7
    assert get(url + "/api/walk/0/frame.png?seeds=3&frames=8&i=0")[0] == 400  # one seed is no walk
    assert get(url + "/api/walk/0/frame.png?seeds=3,4&frames=8&i=8")[0] == 400
    assert get(url + "/api/walk/0/frame.png?seeds=3,4&frames=100000&i=0")[0] == 400
    assert get(url + "/api/walk/0/walk.exe?seeds=3,4")[0] == 404


# ---- photo to Monet: an upload painted as monetgan stylize paints it ---------------------------------

def post(url: str, data: bytes) -> tuple[int, bytes, dict]:
    request = urllib.request.Request(url, data=data, method="POST", headers={"Content-Type": "image/jpeg"})
    try:
        with urllib.request.urlopen(request, timeout=120) as r:
            return r.status, r.read(), dict(r.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), dict(exc.headers)


def test_an_uploaded_photo_is_painted_byte_for_byte_as_monetgan_stylize_writes_it(studio, tmp_path):
    import monetgan

    url, _, _ = studio
    photo = write_paintings(tmp_path / "photo", count=1, size=(300, 200))[0]  # a JPEG, 3:2
    info = json.loads(get(url + "/api/stylizers/0")[1])
    card = json.loads((ROOT / "src/monetgan/weights/stylizer.json").read_text())
    assert info["chroma_blur"] == card["chroma_blur"] and info["strength"] == 1.0  # the card's, as stylize
    for query, settings in [("?strength=0.6&chroma_blur=0", dict(strength=0.6, chroma_blur=0.0)),
                            ("", {}),  # after another request's settings: the card's again, nothing left over
                            ("?size=96", dict(size=96))]:
        status, body, headers = post(url + "/api/stylize/0.png" + query, photo.read_bytes())
        assert status == 200 and headers["content-type"] == "image/png"
        [written] = monetgan.stylize(photo, tmp_path / f"out{len(query)}", show_progress=False, **settings).written
        assert body == written.read_bytes(), query
        assert Image.open(io.BytesIO(body)).size == ((256, 171) if "size" not in settings else (96, 64))
    plain = post(url + "/api/stylize/0.png", photo.read_bytes())[1]
    assert plain != post(url + "/api/stylize/0.png?strength=0.6", photo.read_bytes())[1]  # the setting is used


@pytest.mark.parametrize("query, body, words", [
    ("", b"not an image at all", "cannot be used"),
    ("", b"", "empty"),
    ("?strength=5", None, "strength must lie in"),
    ("?chroma_blur=-1", None, "chroma_blur must lie in"),
    ("?strength=abc", None, "must be a number"),
    ("?size=5000", None, "size must lie in"),
])
def test_bad_uploads_and_settings_are_one_line_400s(studio, tmp_path, query, body, words):
    url, _, _ = studio
    if body is None:
        body = write_paintings(tmp_path / "photo", count=1)[0].read_bytes()
    status, answer, _ = post(url + "/api/stylize/0.png" + query, body)
    assert status == 400 and words in answer.decode() and b"\n" not in answer.strip()


def test_an_upload_past_the_limit_is_refused_with_413(studio, monkeypatch):
    import monetgan.studio.app as app

    url, _, _ = studio
    monkeypatch.setattr(app, "MAX_UPLOAD_BYTES", 1000)
    status, answer, _ = post(url + "/api/stylize/0.png", bytes(5000))
    assert status == 413 and b"smaller" in answer
    # Without a declared length (chunked), the body is still counted as it arrives.
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    conn.request("POST", "/api/stylize/0.png", body=iter([bytes(600), bytes(600)]), encode_chunked=True)
    assert conn.getresponse().status == 413
    conn.close()


def test_a_translation_run_is_offered_as_a_stylizer_not_a_painter_and_paints_as_stylize_run(cut_run, tiny_run,
                                                                                           tmp_path):
    import monetgan

    root, _ = cut_run
    painters, runs, stylizers = studio_parts([root / "run", tiny_run[0]])  # both folders are named "run"
    assert [p["label"] for p in painters.describe()] == ["bundled Monet painter", f"{tiny_run[0]} (latest checkpoint)"]
    assert [s["label"] for s in stylizers.describe()] == ["bundled stylizer", f"{root / 'run'} (latest checkpoint)"]
    assert len(runs) == 2  # both runs keep their dashboards
    photo = write_paintings(tmp_path / "photo", count=1, size=(60, 44), seed=5)[0]
    with running_server(create_app(painters, runs, stylizers)) as url:
        info = json.loads(get(url + "/api/info")[1])
        assert [s["index"] for s in info["stylizers"]] == [0, 1]
        assert stylizers.loads == 0  # listing them loads nothing; the tab loads one when it is opened
        settings = json.loads(get(url + "/api/stylizers/1")[1])
        assert settings["label"] == f"{root / 'run'} (latest checkpoint)" and settings["strength"] == 1.0
        assert settings["chroma_blur"] == 0.0  # the run's translator_chroma_blur, not the bundled card's 1
        assert stylizers.loads == 1
        for query, options in [("", {}), ("?size=40&chroma_blur=0.5", dict(size=40, chroma_blur=0.5))]:
            status, body, _ = post(url + "/api/stylize/1.png" + query, photo.read_bytes())
            [written] = monetgan.stylize(photo, tmp_path / f"out{len(query)}", run=root / "run",
                                         show_progress=False, **options).written
            assert status == 200 and body == written.read_bytes(), query
        assert body != post(url + "/api/stylize/0.png?size=40&chroma_blur=0.5", photo.read_bytes())[1]
        assert post(url + "/api/stylize/2.png", photo.read_bytes())[0] == 404
        assert get(url + "/api/stylizers/2")[0] == 404
        assert get(url + "/api/paint/2/0.png")[0] == 404  # the translator is not among the painters


def test_a_plain_translator_offers_no_strength_and_a_residual_one_its_range(cut_run, tmp_path):
    import monetgan
    from conftest import CUT_TINY
    from monetgan.nets.translator import STRENGTH_RANGE
    from monetgan.studio.pool import ModelSpec
    from monetgan.studio.stylizer import StylizerPool

    root, _ = cut_run
    monetgan.train(root / "paintings", tmp_path / "plain", preset="cut-128", photos=root / "photos",
                   show_progress=False, tensorboard=False,
                   **dict(CUT_TINY, steps=1, checkpoint_every=1, translator_residual=False))
    pool = StylizerPool([ModelSpec("residual", run=root / "run"), ModelSpec("plain", run=tmp_path / "plain")])
    assert pool.settings(0)["strength_range"] == list(STRENGTH_RANGE)
    assert pool.settings(1)["strength_range"] == [1.0, 1.0] and pool.settings(1)["strength"] == 1.0


def test_walk_frames_from_the_server_start_and_end_on_the_paintings(studio):
    url, _, _ = studio
    decode = lambda data: np.asarray(Image.open(__import__("io").BytesIO(data)).convert("RGB"))
    first = decode(get(f"{url}/api/walk/1/frame.png?seeds=4,9&frames=6&i=0")[1])
    last = decode(get(f"{url}/api/walk/1/frame.png?seeds=4,9&frames=6&i=5")[1])
    middle = decode(get(f"{url}/api/walk/1/frame.png?seeds=4,9&frames=6&i=2")[1])
    assert np.array_equal(first, decode(get(f"{url}/api/paint/1/4.png")[1]))
    assert np.array_equal(last, decode(get(f"{url}/api/paint/1/9.png")[1]))
    assert not np.array_equal(middle, first) and not np.array_equal(middle, last)
    status, body, headers = get(f"{url}/api/walk/1/walk.gif?seeds=4,9&frames=6&fps=12")
    assert status == 200 and headers["content-type"] == "image/gif"
    with Image.open(__import__("io").BytesIO(body)) as gif:
        assert gif.n_frames == 6


# ---- the dashboard summary ----------------------------------------------------------------------

def test_dashboard_reads_the_log_as_it_grows_and_starts_over_on_a_truncated_log(tmp_path):
    from monetgan.studio.runs import RunFolder

    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"steps": 100, "loss": "wgan-gp"}))
    log = run / "log.jsonl"
    line = lambda s: json.dumps({"step": s, "wall_time": 0.5 * s, "wasserstein_estimate": 1.0 / s,
                                 "generator_loss": -s, "critic_loss": float(s)}) + "\n"
    log.write_text("".join(line(s) for s in (1, 2, 3)))
    folder = RunFolder(run)
    d = folder.dashboard(0)
    assert d["latest_step"] == 3 and d["steps"] == 100 and d["curves"]["step"] == [1, 2, 3]
    assert d["curves"]["wasserstein_estimate"] == [1.0, 0.5, 1 / 3]
    assert d["live"] and d["steps_per_second"] == pytest.approx(2.0) and d["eta_seconds"] == pytest.approx(48.5)
    with open(log, "a") as f:
        f.write(line(4) + line(5) + line(6)[:20])  # step 6 is half written
    assert folder.dashboard(0)["latest_step"] == 5
    with open(log, "a") as f:
        f.write(line(6)[20:])
    assert folder.dashboard(0)["latest_step"] == 6
    log.write_text(line(1) + line(2))  # a resume truncates the log to its checkpoint
    assert folder.dashboard(0)["curves"]["step"] == [1, 2]
    (run / "metrics.jsonl").write_text(json.dumps({"step": 2, "fid": 250.0, "kid": 0.2, "swd": 3.0}) + "\n")
    assert folder.dashboard(0)["metrics"] == [{"step": 2, "fid": 250.0, "kid": 0.2, "swd": 3.0}]
    # A resume that raised `steps` wrote it into its checkpoints' config, not the run's config.json.
    (run / "checkpoints" / "step-000002").mkdir(parents=True)
    (run / "checkpoints" / "step-000002" / "config.json").write_text(json.dumps({"steps": 500}))
    assert folder.dashboard(0)["steps"] == 500
    old = time.time() - 3600
    os.utime(log, (old, old))  # nothing written for an hour: not training, so no rate or ETA
    d = folder.dashboard(0)
    assert not d["live"] and d["eta_seconds"] is None


def test_dashboard_decimates_long_logs_but_keeps_the_newest_point(tmp_path):
    from monetgan.studio.runs import MAX_POINTS, RunFolder

    run = tmp_path / "run"
    run.mkdir()
    (run / "log.jsonl").write_text("".join(json.dumps({"step": s, "critic_loss": s}) + "\n" for s in range(1, 5002)))
    steps = RunFolder(run).dashboard(0)["curves"]["step"]
    assert len(steps) <= MAX_POINTS + 1 and steps[0] == 1 and steps[-1] == 5001


# ---- interpolate --------------------------------------------------------------------------------

def test_slerp_endpoints_are_exact_and_the_middle_stays_on_the_shell():
    a, b = latents_for_seeds([3, 17], 512)
    assert torch.equal(slerp(a, b, 0.0), a) and torch.equal(slerp(a, b, 1.0), b)
    middle = slerp(a, b, 0.5)
    # Two Gaussian latents are nearly orthogonal: slerp keeps the norm, lerp shrinks it by ~1/sqrt(2).
    assert middle.norm().item() == pytest.approx(((a.norm() + b.norm()) / 2).item(), rel=0.02)
    assert lerp(a, b, 0.5).norm() < 0.8 * middle.norm()
    # On unit vectors, slerp at t turns by t of the angle between them and keeps unit length.
    ua, ub = a / a.norm(), b / b.norm()
    angle = lambda u, v: torch.arccos((torch.dot(u, v) / (u.norm() * v.norm())).clamp(-1, 1)).item()
    point = slerp(ua, ub, 0.3)
    assert point.norm().item() == pytest.approx(1.0, abs=1e-5)
    assert angle(point, ua) == pytest.approx(0.3 * angle(ua, ub), abs=1e-4)
    assert torch.allclose(slerp(a, a, 0.3), a)  # parallel latents: no division by zero


def test_walk_latents_pass_through_each_seed_exactly():
    z = walk_latents([3, 17, 42], 60, 64)
    anchors = latents_for_seeds([3, 17, 42], 64)
    assert z.shape == (60, 64)
    keys = keyframe_indices(3, 60)
    assert keys == [0, 30, 59]
    for k, row in zip(keys, anchors):
        assert torch.equal(z[k], row)
    assert not torch.equal(z[1], z[0])


def test_walk_frames_first_and_last_equal_the_paintings(tiny_run, tmp_path):
    run, _ = tiny_run
    generator = pick_generator(run, None, None, None, "cpu")
    frames = walk_frames(generator, [2, 8], 5)
    painted = [np.asarray(Image.open(p)) for p in paint(run, num=7, seed=2, out=tmp_path / "p")]
    assert frames.shape[0] == 5
    assert np.array_equal(frames[0], painted[0]) and np.array_equal(frames[-1], painted[6])


def run_cli(*args, timeout=120):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "monetgan", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env=env)


def test_interpolate_cli_writes_mp4_and_gif_with_the_frame_count(tiny_run, tmp_path):
    import imageio.v2 as imageio

    run, _ = tiny_run
    result = run_cli("interpolate", "--run", run, "--seeds", "3,17,42", "--frames", 9, "--out", tmp_path / "walk.mp4")
    assert result.returncode == 0, result.stderr
    reader = imageio.get_reader(str(tmp_path / "walk.mp4"), format="FFMPEG")
    try:
        assert reader.count_frames() == 9
    finally:
        reader.close()
    out = interpolate([3, 17], tmp_path / "walk.gif", frames=7, run=run, device="cpu", mode="lerp")
    with Image.open(out) as gif:
        assert gif.n_frames == 7 and gif.size == (32, 32)


@pytest.mark.parametrize("args, words", [
    (["--seeds", "3"], "at least two seeds"),
    (["--seeds", "3,x"], "whole numbers"),
    (["--seeds", "3,4", "--frames", "1"], "--frames"),
    (["--seeds", "3,4", "--out", "walk.avi"], "unsupported suffix"),
])
def test_interpolate_user_errors_are_one_line(tmp_path, args, words):
    full = ["interpolate", "--out", tmp_path / "w.gif", *args] if "--out" not in args else ["interpolate", *args]
    result = run_cli(*full)
    assert result.returncode == 2 and words in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


# ---- the studio command -------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_busy_port_is_one_line_naming_it():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run_cli("studio", "--port", port)
    assert result.returncode == 2
    assert result.stderr.strip() == f"monetgan: error: port {port} is in use; pass --port N"


def test_without_the_extra_studio_says_how_to_install_it():
    code = ("import sys; sys.modules['uvicorn'] = None; sys.modules['starlette'] = None\n"
            "from monetgan.cli import main; main(['studio'])")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip() == "monetgan: error: the studio needs its extra: pip install 'monetgan[studio]'"


def test_runs_of_the_same_name_are_told_apart_by_their_paths(tiny_run, tmp_path):
    import shutil

    run, _ = tiny_run
    copies = [tmp_path / "a" / "run", tmp_path / "b" / "run"]
    for copy in copies:
        shutil.copytree(run, copy)
    painters, runs, _ = studio_parts([*copies, tmp_path / "a" / "run" / "checkpoints" / "step-000002"])
    assert [r.name for r in runs] == [str(c) for c in copies]
    assert [p["label"] for p in painters.describe()][1:] == [f"{c} (latest checkpoint)" for c in copies] + ["run/step-000002"]


def test_not_a_run_folder_is_a_user_error(tmp_path):
    result = run_cli("studio", tmp_path / "nope", "--port", free_port())
    assert result.returncode == 2 and "not a run folder" in result.stderr and "Traceback" not in result.stderr


def start_studio(*args) -> tuple[subprocess.Popen, str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "monetgan", "studio", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    first = proc.stdout.readline()
    return proc, first


@pytest.mark.parametrize("host", ["127.0.0.1", "0.0.0.0"])
def test_studio_serves_on_loopback_and_ctrl_c_stops_it_cleanly(host):
    port = free_port()
    proc, first = start_studio("--port", port, *(["--host", host] if host != "127.0.0.1" else []))
    try:
        assert f"http://{host}:{port}/" in first, first
        deadline = time.time() + 30
        while True:
            try:
                if get(f"http://127.0.0.1:{port}/api/info")[0] == 200:
                    break
            except OSError:
                if time.time() > deadline:
                    raise
                time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode in (0, 130)
    assert "Traceback" not in err
    if host == "0.0.0.0":
        assert "warning: serving on 0.0.0.0" in err
    else:
        assert "warning" not in err


# ---- load -----------------------------------------------------------------------------------------

def _load_module():
    spec = importlib.util.spec_from_file_location("studio_load", ROOT / "benchmarks" / "studio_load.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_200_mixed_requests_from_20_clients_share_one_painter_without_errors(tiny_run):
    load = _load_module()
    run, _ = tiny_run
    painters, runs, stylizers = studio_parts([run])
    frames = [f"/runs/0/files/frames/{p.name}" for p in sorted((run / "frames").glob("step-*.png"))]
    paths = load.mixed_paths(painter=1, seeds=10, runs=1, frame_paths=frames)
    assert {p.split("/")[2] for p in paths} >= {"paint", "runs", "walk"} and any("/files/" in p for p in paths)
    with running_server(create_app(painters, runs, stylizers)) as url:
        warm = load.hammer(url, paths, requests=200, clients=20)
        rss_warm = load.memory_kib()
        again = load.hammer(url, paths, requests=200, clients=20)
        rss_after = load.memory_kib()
    assert warm["requests"] == again["requests"] == 200
    assert warm["errors"] == again["errors"] == 0, warm["error_examples"] + again["error_examples"]
    assert painters.loads == 1  # 20 clients asked for painter 1 at once; it was loaded once
    # The same 200 requests again must not grow memory (a leak per request would show here).
    assert rss_after - rss_warm < 40 * 1024, (rss_warm, rss_after)
