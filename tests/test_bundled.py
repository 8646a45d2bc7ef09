"""The bundled generator: the shipped weights load and paint, and the format refuses what does not fit."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file, save_file

import monetgan
from monetgan.painting.bundled import MAX_BYTES, bundle, load_bundled, read_card, weights_dir
from monetgan.files import sha256_of_file
from monetgan.nets import count_parameters


def test_shipped_weights_load_paint_and_match_their_card():
    card = read_card()
    generator = load_bundled(device="cpu")
    assert count_parameters(generator) == card["parameters"]
    assert generator.resolution == card["config"]["resolution"]
    with torch.no_grad():
        images = generator(torch.randn(2, generator.latent_dim))
    assert images.shape == (2, 3, card["config"]["resolution"], card["config"]["resolution"])
    assert images.min() >= -1 and images.max() <= 1 and images.std() > 0.05  # a picture, not a flat field
    assert (weights_dir() / "monet.safetensors").stat().st_size <= MAX_BYTES
    assert sha256_of_file(weights_dir() / "monet.safetensors") == card["weights_sha256"]
    # Paintings come out at 256 px: natively, or upsampled as the card says.
    assert card.get("output_size", card["config"]["resolution"]) == 256
    for key in ("recipe", "steps_trained", "wall_time_seconds", "hardware", "metrics", "data", "command"):
        assert key in card, key


def test_paint_without_a_run_uses_the_bundled_generator(tmp_path):
    result = subprocess.run([sys.executable, "-m", "monetgan", "paint", "--num", "3", "--out", str(tmp_path / "o"),
                             "--device", "cpu"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    files = sorted((tmp_path / "o").glob("*.png"))
    assert [f.name for f in files] == ["seed000000.png", "seed000001.png", "seed000002.png"]
    card = read_card()
    size = card.get("output_size", card["config"]["resolution"])  # the size the card promises
    pixels = [np.asarray(Image.open(f)) for f in files]
    assert all(p.shape == (size, size, 3) for p in pixels)
    assert f"{size}x{size} px" in result.stdout
    assert not np.array_equal(pixels[0], pixels[1])
    assert "painting: 100%" in result.stderr and "3/3" in result.stderr  # the progress bar
    quiet = subprocess.run([sys.executable, "-m", "monetgan", "paint", "--num", "2", "--out", str(tmp_path / "q"),
                            "--device", "cpu", "--quiet"], capture_output=True, text=True, timeout=300)
    assert quiet.returncode == 0 and quiet.stderr == "", quiet.stderr
    assert [np.asarray(Image.open(f)).tobytes() for f in sorted((tmp_path / "q").glob("*.png"))] == \
        [p.tobytes() for p in pixels[:2]]  # painted one seed at a time: the same pictures


@pytest.fixture
def bundled_pair(tiny_run, tmp_path):
    ckpt = sorted((tiny_run[0] / "checkpoints").iterdir())[-1]
    bundle(ckpt, tmp_path / "w", name="tiny", extra={"note": "test"})
    return tmp_path / "w", ckpt


def test_bundle_round_trip_paints_like_the_checkpoint(bundled_pair, tmp_path):
    folder, ckpt = bundled_pair
    from_bundle = monetgan.paint(weights=folder / "tiny.safetensors", num=2, out=tmp_path / "a")
    from_ckpt = monetgan.paint(checkpoint=ckpt, num=2, out=tmp_path / "b")
    for a, b in zip(from_bundle, from_ckpt):
        assert np.array_equal(np.asarray(Image.open(a)), np.asarray(Image.open(b)))  # fp32 kept: identical
    assert json.loads((folder / "tiny.json").read_text())["note"] == "test"


def test_half_precision_bundle_paints_within_a_few_grey_levels(bundled_pair, tmp_path):
    folder, ckpt = bundled_pair
    bundle(ckpt, folder, name="half", half=True)
    assert all(v.dtype == torch.float16 for v in load_file(str(folder / "half.safetensors")).values()
               if v.is_floating_point())
    a = np.asarray(Image.open(monetgan.paint(weights=folder / "half.safetensors", num=1, out=tmp_path / "h")[0]))
    b = np.asarray(Image.open(monetgan.paint(checkpoint=ckpt, num=1, out=tmp_path / "f")[0]))
    assert np.abs(a.astype(int) - b.astype(int)).max() <= 4


def test_wrong_shapes_are_refused(bundled_pair):
    folder, _ = bundled_pair
    weights = load_file(str(folder / "tiny.safetensors"))
    name = next(iter(weights))
    weights[name] = torch.zeros(3, 3)
    save_file(weights, str(folder / "tiny.safetensors"))
    with pytest.raises(monetgan.UserError, match="not the file its card"):
        load_bundled("tiny", device="cpu", folder=folder)
    # A card from before the hash was recorded: the shapes are still checked, strictly.
    card = json.loads((folder / "tiny.json").read_text())
    del card["weights_sha256"]
    (folder / "tiny.json").write_text(json.dumps(card))
    with pytest.raises(monetgan.UserError, match="do not load"):
        load_bundled("tiny", device="cpu", folder=folder)


def test_weights_that_fit_but_are_not_the_cards_are_refused(bundled_pair):
    folder, _ = bundled_pair
    weights = load_file(str(folder / "tiny.safetensors"))
    name = next(k for k, v in weights.items() if v.is_floating_point())
    weights[name] = weights[name] + 1.0  # same names and shapes: only the hash can tell
    save_file(weights, str(folder / "tiny.safetensors"))
    with pytest.raises(monetgan.UserError, match="SHA-256"):
        load_bundled("tiny", device="cpu", folder=folder)


def test_card_parameter_count_is_checked(bundled_pair):
    folder, _ = bundled_pair
    card = json.loads((folder / "tiny.json").read_text())
    card["parameters"] += 1
    (folder / "tiny.json").write_text(json.dumps(card))
    with pytest.raises(monetgan.UserError, match="parameters"):
        load_bundled("tiny", device="cpu", folder=folder)


def test_unknown_card_format_is_refused(bundled_pair):
    folder, _ = bundled_pair
    card = json.loads((folder / "tiny.json").read_text())
    card["format_version"] = 99
    (folder / "tiny.json").write_text(json.dumps(card))
    with pytest.raises(monetgan.UserError, match="format"):
        load_bundled("tiny", device="cpu", folder=folder)


def test_paint_size_flag_upsamples_and_native_is_the_default_for_a_run(bundled_pair, tmp_path):
    folder, ckpt = bundled_pair
    native = np.asarray(Image.open(monetgan.paint(checkpoint=ckpt, num=1, out=tmp_path / "n")[0]))
    big = np.asarray(Image.open(monetgan.paint(checkpoint=ckpt, num=1, out=tmp_path / "b", size=96)[0]))
    assert native.shape[0] == 32 and big.shape == (96, 96, 3)
    # The upsampled painting is the native one, enlarged: shrinking it back lands close to the original.
    back = np.asarray(Image.fromarray(big).resize((32, 32), Image.Resampling.LANCZOS)).astype(int)
    assert np.abs(back - native.astype(int)).mean() < 6


def test_export_kaggle_from_a_generator_file_needs_the_paintings(bundled_pair, tmp_path):
    folder, _ = bundled_pair
    with pytest.raises(monetgan.UserError, match="--data"):
        monetgan.export_kaggle(weights=folder / "tiny.safetensors", out=tmp_path / "x.zip", num=7000)


def test_weights_flag_needs_a_safetensors_file(tmp_path):
    with pytest.raises(monetgan.UserError, match="safetensors"):
        monetgan.paint(weights=tmp_path / "g.pt", num=1, out=tmp_path / "o")


def test_shipped_stylizer_matches_its_card_and_paints_photos(tmp_path):
    from monetgan.nets.translator import Translator
    from monetgan.painting.stylize import STYLIZER_NAME

    card = read_card(STYLIZER_NAME)
    path = weights_dir() / f"{STYLIZER_NAME}.safetensors"
    assert path.stat().st_size <= MAX_BYTES
    assert sha256_of_file(path) == card["weights_sha256"]
    stylizer = load_bundled(STYLIZER_NAME, device="cpu")
    assert isinstance(stylizer, Translator) and count_parameters(stylizer) == card["parameters"]
    assert stylizer.chroma_blur == card.get("chroma_blur", 0.0)  # the painting settings its metrics were taken with
    for key in ("recipe", "steps_trained", "cpu_minutes", "hardware", "metrics", "data", "command"):
        assert key in card, key
    assert card["metrics"]["fid"] < card["metrics"]["photos_themselves"]["fid"]  # what it claims: better than the photos
    # The command line paints a photo with it, without --run, at the photo's aspect ratio.
    photo = tmp_path / "in" / "photo.jpg"
    photo.parent.mkdir()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (90, 120, 3), dtype=np.uint8)).resize((240, 180)).save(photo)
    result = subprocess.run([sys.executable, "-m", "monetgan", "stylize", str(photo), "--out", str(tmp_path / "o"),
                             "--device", "cpu"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    painted = np.asarray(Image.open(tmp_path / "o" / "photo.png"))
    assert painted.shape == (192, 256, 3)
    resized = np.asarray(Image.open(photo).resize((256, 192), Image.Resampling.LANCZOS)).astype(int)
    assert np.abs(painted.astype(int) - resized).mean() > 3  # it painted, not copied
