"""The Kaggle submission: right count, size, mode and format; near-copies of training images replaced."""

import json
import subprocess
import sys
import zipfile

import pytest
from PIL import Image

from monetgan.errors import UserError
from monetgan.export import export_kaggle
from monetgan.painting import paint


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
                             "--out", str(tmp_path / "x.zip")], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "7,000 to 10,000" in result.stderr
    assert not (tmp_path / "x.zip").exists()


def test_collapsed_generator_is_refused(tiny_run, tmp_path):
    """The 3-step generator paints nearly the same picture for every seed: at the default threshold it copies."""
    run, _ = tiny_run
    planted = tmp_path / "train"
    paint(run, num=1, seed=3, out=planted)
    with pytest.raises(UserError, match="export is refused"):
        export_kaggle(run, num=7000, out=tmp_path / "images.zip", data=planted, show_progress=False)
    assert not (tmp_path / "images.zip").exists()
