"""The Kaggle submission: right count, size, mode and format; near-copies of training images replaced."""

import errno
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from PIL import Image

import monetgan.painting.export as export_module
from monetgan.errors import UserError
from monetgan.painting.export import export_kaggle
from monetgan.painting.paint import paint


def test_kaggle_zip_is_valid_and_planted_copies_are_replaced(tiny_run, tmp_path):
    run, _ = tiny_run
    # Plant: the "training set" holds exactly what seeds 3 and 5 paint (one export: it is the slow part).
    planted = tmp_path / "train"
    for s in (3, 5):
        paint(run, num=1, seed=s, out=planted)
    # A 3-step generator paints near-identical pictures, so only exact copies may count here.
    result = export_kaggle(run, num=7000, out=tmp_path / "sub" / "images.zip", data=planted, near_copy_rms=1e-4,
                           show_progress=False)
    with zipfile.ZipFile(result.zip_path) as z:
        names = z.namelist()
        assert len(names) == len(set(names)) == 7000
        assert all(n.endswith(".jpg") and "/" not in n for n in names)
        for name in names[::997]:
            with Image.open(z.open(name)) as img:
                assert (img.format, img.mode, img.size) == ("JPEG", "RGB", (256, 256))
    manifest = json.loads(result.manifest_path.read_text())
    assert result.manifest_path.parent == result.zip_path.parent
    assert manifest["num_images"] == 7000 and len(set(manifest["seeds"])) == 7000
    assert manifest["upsampling"].startswith("Lanczos from 32x32")
    assert len(manifest["checkpoint_sha256"]) == 64
    assert not [p for p in (tmp_path / "sub").iterdir() if p.name.startswith(".")]  # no temp files left
    assert sorted(result.replaced) == [3, 5]
    assert 3 not in manifest["seeds"] and 5 not in manifest["seeds"]
    assert manifest["near_copy_check"]["replaced_seeds"] == [3, 5]


@pytest.mark.parametrize("num", ["6999", "10001"])
def test_num_outside_kaggle_range_is_refused(tiny_run, tmp_path, num):
    run, _ = tiny_run
    result = subprocess.run([sys.executable, "-m", "monetgan", "export-kaggle", "--run", str(run), "--num", num,
                             "--out", str(tmp_path / "x.zip")], check=False, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "7,000 to 10,000" in result.stderr
    assert not (tmp_path / "x.zip").exists()


def test_collapsed_generator_is_refused(paintings, tmp_path):
    """A 3-step DCGAN generator paints nearly the same picture for every seed: at the default threshold it copies."""
    import monetgan
    from conftest import TINY

    run = tmp_path / "dcgan"
    monetgan.train(paintings, run, preset="wgan-gp-64", steps=3, checkpoint_every=3, show_progress=False,
                   tensorboard=False, **TINY)
    planted = tmp_path / "train"
    paint(run, num=1, seed=3, out=planted)
    with pytest.raises(UserError, match="export is refused"):
        export_kaggle(run, num=7000, out=tmp_path / "images.zip", data=planted, show_progress=False)
    assert not (tmp_path / "images.zip").exists()


# ----------------------------------------------------------------------------------------------
# An export writes the zip and manifest.json, beside each other, and nothing else anywhere
# ----------------------------------------------------------------------------------------------

def tree(root):
    """Every path under `root` (symlinks not followed): files with size and mtime, folders, links with targets."""
    found = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(folder) / name
            rel = path.relative_to(root).as_posix()
            if path.is_symlink():
                found[rel] = ("link", os.readlink(path))
            elif path.is_dir():
                found[rel] = ("dir",)
            else:
                st = path.stat()
                found[rel] = ("file", st.st_size, st.st_mtime_ns)
    return found


@pytest.fixture
def small_export(tiny_run, tmp_path, monkeypatch):
    """Exports of 8 images (Kaggle's minimum patched), run from a working folder inside tmp_path,
    against one planted training image that no exported seed paints exactly."""
    run, _ = tiny_run
    monkeypatch.setattr(export_module, "KAGGLE_MIN", 1)
    planted = tmp_path / "train"
    paint(run, num=1, seed=1000, out=planted)
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")  # a stray relative write would land here, and be seen

    def export(out, **kwargs):
        return export_kaggle(run, num=8, out=out, data=planted, near_copy_rms=1e-4, show_progress=False, **kwargs)

    return run, export


def created(before, after):
    assert all(after.get(k) == v for k, v in before.items() if v[0] != "dir"), "an existing file was changed"
    return sorted(set(after) - set(before))


def assert_flat_zip(path, num=8):
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
        assert names == [f"{i:05d}.jpg" for i in range(num)]  # flat: no folders, no "..", no absolute names
        assert z.testzip() is None


@pytest.mark.parametrize("spelling", ["plain", "dotdot", "symlinked parent"])
def test_export_writes_only_the_zip_and_its_manifest(small_export, tmp_path, spelling):
    run, export = small_export
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real", target_is_directory=True)
    out, where = {
        "plain": (tmp_path / "sub" / "out.zip", "sub"),
        # `nope` does not exist: the path still means tmp_path/sub2, and no `nope` folder appears
        "dotdot": (tmp_path / "nope" / ".." / "sub2" / "out.zip", "sub2"),
        "symlinked parent": (tmp_path / "link" / "out.zip", "real"),
    }[spelling]
    before, run_before = tree(tmp_path), tree(run)
    result = export(out)
    new = created(before, tree(tmp_path))
    expected = [f"{where}/manifest.json", f"{where}/out.zip"]
    assert new == (expected if where == "real" else sorted([where, *expected]))
    assert tree(run) == run_before  # the run folder is only read
    assert result.zip_path == tmp_path / where / "out.zip" and result.manifest_path.parent == result.zip_path.parent
    assert (tmp_path / "link").is_symlink()
    assert_flat_zip(result.zip_path)
    manifest = json.loads(result.manifest_path.read_text())
    assert manifest["zip"] == "out.zip" and manifest["num_images"] == 8


def test_a_symlink_at_out_is_replaced_not_written_through(small_export, tmp_path):
    _, export = small_export
    victim = tmp_path / "elsewhere" / "victim.zip"
    victim.parent.mkdir()
    victim.write_bytes(b"precious")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "out.zip").symlink_to(victim)
    before = tree(tmp_path)
    result = export(tmp_path / "sub" / "out.zip")
    assert victim.read_bytes() == b"precious"
    assert not result.zip_path.is_symlink() and result.zip_path.is_file()
    assert_flat_zip(result.zip_path)
    after = tree(tmp_path)
    assert after["sub/out.zip"][0] == "file"
    assert sorted(set(after) - set(before)) == ["sub/manifest.json"]


def test_disk_full_while_writing_the_zip_leaves_the_old_one_and_no_temp_files(small_export, tmp_path, monkeypatch):
    _, export = small_export
    out = tmp_path / "sub" / "out.zip"
    out.parent.mkdir()
    out.write_bytes(b"yesterday's submission")
    before = tree(tmp_path)
    real_writestr = zipfile.ZipFile.writestr
    calls = []

    def writestr(self, name, data, *args, **kwargs):
        calls.append(name)
        if len(calls) == 4:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_writestr(self, name, data, *args, **kwargs)

    monkeypatch.setattr(zipfile.ZipFile, "writestr", writestr)
    with pytest.raises(UserError, match=r"--out .*out\.zip: cannot write it \(the disk is full\).*free space"):
        export(out)
    assert out.read_bytes() == b"yesterday's submission"
    assert tree(tmp_path) == before  # no temporary zip, no manifest


def test_out_that_is_a_folder_is_refused_before_painting(small_export, tmp_path):
    _, export = small_export
    (tmp_path / "taken.zip").mkdir()
    with pytest.raises(UserError, match="is a folder"):
        export(tmp_path / "taken.zip")


def test_as_submitted_gives_the_pixels_kaggle_decodes_from_the_zip(tmp_path):
    """evaluate --jpeg judges `as_submitted` images: they must be exactly the zip's JPEGs decoded."""
    import numpy as np

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(3, 256, 256, 3), dtype=np.uint8)
    out = tmp_path / "images.zip"
    export_module.write_submission_zip(out, images, export_module.SUBMISSION_QUALITY, show_progress=False)
    with zipfile.ZipFile(out) as archive:
        decoded = np.stack([np.asarray(Image.open(archive.open(name)).convert("RGB")) for name in sorted(archive.namelist())])
    judged = export_module.as_submitted(images)
    assert np.array_equal(judged, decoded)
    assert not np.array_equal(judged, images)  # the JPEG changed the noise: the round trip is not skipped
    # Lower quality loses more; 4:2:0 halves colour, so even quality 100 is not lossless on noise.
    error = lambda q: np.abs(export_module.as_submitted(images, q).astype(int) - images).mean()  # noqa: E731
    assert error(100) < error(95) < error(20)
    with pytest.raises(UserError, match="--jpeg 0: a JPEG quality is 1 to 100"):
        export_module.as_submitted(images, 0)
