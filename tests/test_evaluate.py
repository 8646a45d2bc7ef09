"""evaluate(): identities that any honest evaluation must satisfy, on a handful of images."""

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

import monetgan.reports.evaluate as ev
from monetgan.reports.evaluate import FAKE_SEED_OFFSET, evaluate, evaluation_seeds, format_report

from conftest import write_paintings


@pytest.fixture(scope="module")
def reals(tmp_path_factory):
    folder = tmp_path_factory.mktemp("reals")
    write_paintings(folder, count=12, size=(64, 64), seed=1)
    return folder


def test_a_copy_of_the_reals_scores_like_the_reals(reals, tmp_path):
    report = evaluate(fake=reals, real=reals, cache_dir=tmp_path / "cache", json_out=tmp_path / "r.json",
                      show_progress=False)
    row = report["results"][0]
    assert row["fid"] == pytest.approx(0.0, abs=1e-3)
    assert row["swd"] == pytest.approx(0.0, abs=1e-6)
    # Every "generated" image is a training image: memorisation is total and MiFID explodes.
    assert row["memorization"]["fraction_cosine_below_0.05"] == 1.0
    assert row["memorization"]["pixel_rms_min"] == pytest.approx(0.0, abs=1e-9)
    assert row["memorization_distance"] < 1e-6  # MiFID = FID / this: any FID above 0 explodes
    assert "fid_infinity" not in row  # 12 images: too few to extrapolate from (FID_INFINITY_MIN_IMAGES)
    assert (tmp_path / "memorization.png").exists()
    assert json.loads((tmp_path / "r.json").read_text())["results"][0]["fid"] == pytest.approx(row["fid"])
    assert "FID" in format_report(report)


def test_planted_copy_is_flagged_and_raises_mifid(reals, tmp_path):
    fakes = tmp_path / "fakes"
    write_paintings(fakes, count=8, size=(64, 64), seed=99)  # different paintings
    clean = evaluate(fake=fakes, real=reals, cache_dir=None, show_progress=False, judge_at="native")["results"][0]
    shutil.copy(next(reals.glob("*.png")), fakes / "zz_copy.png")  # plant one exact copy
    planted = evaluate(fake=fakes, real=reals, cache_dir=None, show_progress=False, judge_at="native")["results"][0]
    assert clean["memorization"]["pixel_rms_min"] > 0.02
    assert planted["memorization"]["pixel_rms_min"] == pytest.approx(0.0, abs=1e-9)
    assert planted["memorization"]["cosine_min"] == pytest.approx(0.0, abs=1e-6)
    assert planted["memorization"]["fraction_pixel_rms_below_0.02"] == pytest.approx(1 / 9)
    assert clean["fid"] > 1.0
    assert clean["fid_mean_term"] + clean["fid_covariance_term"] == pytest.approx(clean["fid"], rel=1e-12)
    assert clean["fid_mean_term"] > 0 and clean["fid_covariance_term"] > 0
    # One copy among nine lowers the memorisation distance and so raises MiFID relative to FID.
    assert planted["memorization_distance"] < clean["memorization_distance"]
    assert planted["mifid"] / planted["fid"] >= clean["mifid"] / clean["fid"]


def test_real_features_are_cached(reals, tmp_path, monkeypatch):
    calls = []
    original = ev.InceptionFeatures.__call__

    def counting(self, images, *args, **kwargs):
        calls.append(len(images))
        return original(self, images, *args, **kwargs)

    monkeypatch.setattr(ev.InceptionFeatures, "__call__", counting)
    first = evaluate(fake=reals, real=reals, cache_dir=tmp_path, show_progress=False, judge_at="native")
    assert calls == [12, 12] and len(list(tmp_path.glob("features-*.safetensors"))) == 1
    calls.clear()
    second = evaluate(fake=reals, real=reals, cache_dir=tmp_path, show_progress=False, judge_at="native")
    assert calls == [12]  # only the fakes: the reals came from the cache
    assert second["results"][0]["fid"] == pytest.approx(first["results"][0]["fid"])


def test_every_checkpoint_of_a_run(tiny_run, reals, tmp_path):
    run, _ = tiny_run
    report = evaluate(run, checkpoint="all", real=reals, num=6, cache_dir=tmp_path, show_progress=False)
    assert [r["step"] for r in report["results"]] == [2, 3]
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in lines] == [2, 3]
    assert all(np.isfinite(r["fid"]) and r["wasserstein_estimate"] is not None for r in lines)
    assert set(report["spearman_wasserstein"]) == {"fid", "kid", "swd"}


def test_cli_evaluate_and_bad_checkpoint(tiny_run, reals, tmp_path):
    run, _ = tiny_run
    ok = subprocess.run([sys.executable, "-m", "monetgan", "evaluate", "--run", str(run), "--real", str(reals),
                         "--num", "4", "--json", str(tmp_path / "e.json"), "--quiet"],
                        capture_output=True, text=True, timeout=300)
    assert ok.returncode == 0, ok.stderr
    assert "FID" in ok.stdout and (tmp_path / "e.json").exists()
    assert "FID = mean term" in ok.stdout and "covariance term" in ok.stdout
    bad = subprocess.run([sys.executable, "-m", "monetgan", "evaluate", "--run", str(run), "--real", str(reals),
                          "--checkpoint", "step-999"], capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "step-999" in bad.stderr and bad.stderr.count("\n") == 1


def test_a_set_against_itself_has_mifid_zero_not_negative(reals, tmp_path):
    """FID's rounding noise (about -1e-13) must not be divided by the near-zero memorisation distance."""
    row = evaluate(fake=reals, real=reals, cache_dir=None, show_progress=False, judge_at="native")["results"][0]
    assert row["memorization_distance"] < 1e-6
    assert row["mifid"] >= 0.0
    assert row["mifid"] == pytest.approx(max(row["fid"], 0.0) / max(row["memorization_distance"], 1e-15))
    assert row["precision_recall"]["precision"] == 1.0 and row["precision_recall"]["recall"] == 1.0
    from monetgan.metrics.stats import mifid

    feats = np.random.default_rng(0).normal(size=(20, 8))
    assert mifid(-3.4e-13, feats, feats)[0] == 0.0  # the printed -341.06 of the bug report


def test_paintings_are_judged_at_256_px_with_the_floor_their_resolution_sets(tiny_run, reals, tmp_path):
    """The 32-px tiny run is upsampled to 256 as export does and scored against 256-px reals; the
    report also gives the floor of 32-px paintings (the reals downsampled and upsampled back)."""
    run, _ = tiny_run
    at_256 = evaluate(run, real=reals, num=6, cache_dir=None, show_progress=False)
    native = evaluate(run, real=reals, num=6, cache_dir=None, show_progress=False, judge_at="native")
    assert at_256["settings"]["resolution"] == 256 and native["settings"]["resolution"] == 32
    assert at_256["results"][0]["generator_resolution"] == 32
    floor = at_256["resolution_floor"]
    assert floor["resolution"] == 32 and floor["fid"] > 1.0  # blur costs something even for perfect paintings
    assert "resolution_floor" not in native
    assert at_256["results"][0]["fid"] != pytest.approx(native["results"][0]["fid"])
    assert "upsampled" in format_report(at_256)


def test_evaluation_seeds_give_disjoint_paintings_and_seed_0_is_unchanged():
    # Seed 0 keeps the latents every earlier evaluation used; another seed judges other paintings,
    # so a second evaluation seed measures the metric's spread instead of repeating 999 of 1,000.
    assert evaluation_seeds(1000, 0) == range(FAKE_SEED_OFFSET, FAKE_SEED_OFFSET + 1000)
    blocks = [set(evaluation_seeds(1000, s)) for s in range(3)]
    assert all(len(b) == 1000 for b in blocks)
    assert not (blocks[0] & blocks[1]) and not (blocks[1] & blocks[2]) and not (blocks[0] & blocks[2])
    assert min(evaluation_seeds(10_000, 0)) >= 10_000  # never an export seed (0..9,999)


def test_fid_infinity_is_reported_from_enough_images(reals, tmp_path, monkeypatch):
    fakes = tmp_path / "fakes"
    write_paintings(fakes, count=10, size=(64, 64), seed=5)
    monkeypatch.setattr(ev, "FID_INFINITY_MIN_IMAGES", 10)
    report = evaluate(fake=fakes, real=reals, cache_dir=None, show_progress=False)
    row = report["results"][0]
    sizes = [n for n, _ in row["fid_curve"]]
    assert sizes[0] == 3 and sizes[-1] == 10 and sizes == sorted(set(sizes))
    assert row["fid_curve"][-1][1] == pytest.approx(row["fid"], rel=1e-9)  # all ten: the plain FID
    assert np.isfinite(row["fid_infinity"]) and row["fid_infinity"] != row["fid"]
    assert f"{row['fid_infinity']:.2f}" in format_report(report)
    # Precision and recall: ten fakes against the reals, drawn to equal sizes, with the halves' floor beside.
    pr, floor = row["precision_recall"], report["real_floor"]["precision_recall"]
    assert 0.0 <= pr["precision"] <= 1.0 and 0.0 <= pr["recall"] <= 1.0 and pr["size"] == 10  # 10 fakes, 12 reals
    assert floor["size"] == report["real_floor"]["halves"][0] == 6
    assert f"precision {pr['precision']:.3f}" in format_report(report) and "two halves of the paintings" in format_report(report)
