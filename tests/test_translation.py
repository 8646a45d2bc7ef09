"""Photo -> painting: the translator, the PatchNCE content term, exact resume, and `monetgan stylize`."""

import hashlib
import json
import math
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

import monetgan
from monetgan.errors import UserError
from monetgan.nets.generator_file import load_bundled
from monetgan.config import config_from_dict
from monetgan.nets import build_generator
from monetgan.nets.layers import chroma_low_pass
from monetgan.nets.translator import PHOTO_LIMIT, Translator, set_chroma_blur, set_strength
from monetgan.painting.bundled import bundle
from monetgan import devices
from monetgan.data.images import from_uint8, to_uint8
from monetgan.painting.stylize import load_stylizer, output_shape, stylize, stylize_batch
from monetgan.training.patch_nce import PatchProjector, info_nce, patch_nce_loss

from conftest import CUT_TINY, TINY, write_paintings
from test_cli import assert_one_line_error, run_cli
from test_resume import digests

CUT_SET = [f"{k}={v}" for k, v in CUT_TINY.items() if k != "resolution"]


@pytest.fixture
def photos(tmp_path):
    folder = tmp_path / "photos"
    write_paintings(folder, count=20, seed=3)
    return folder


def test_translator_keeps_any_size_that_is_a_multiple_of_4_and_has_no_transposed_convolutions():
    net = Translator(channels=8, blocks=2).eval()
    assert net(torch.zeros(2, 3, 36, 52)).shape == (2, 3, 36, 52)
    assert not any(isinstance(m, torch.nn.ConvTranspose2d) for m in net.modules())
    feats = net.encode(torch.zeros(1, 3, 32, 32))
    assert [f.shape[1] for f in feats] == net.feature_channels


def test_residual_translator_starts_as_the_identity_and_learns_a_change():
    torch.manual_seed(0)
    photo = torch.rand(2, 3, 32, 32) * 2 - 1
    net = Translator(channels=8, blocks=2, residual=True)
    start = net(photo)
    assert torch.allclose(start, photo.clamp(-PHOTO_LIMIT, PHOTO_LIMIT), atol=1e-6)
    assert not torch.allclose(Translator(channels=8, blocks=2)(photo), photo, atol=0.1)  # the plain one is not
    # The zero output layer still gets a gradient, so training moves the painting away from the photo.
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-2)
    target = -photo
    losses = []
    for _ in range(5):
        loss = (net(photo) - target).pow(2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]
    assert (net(photo) - start).abs().max() > 0.05


def test_info_nce_has_its_known_value_for_orthonormal_patches():
    # Queries equal to their keys and orthogonal to every other key: the positive's logit is 1/tau,
    # the P - 1 negatives' are 0, so the loss is log(1 + (P - 1) exp(-1/tau)).
    keys = torch.eye(8)[None]
    tau = 0.5  # CUT's 0.07 puts the identity's loss (4e-6) at float32's rounding
    expected = math.log(1 + 7 * math.exp(-1 / tau))
    assert info_nce(keys, keys, tau).item() == pytest.approx(expected, rel=1e-5)
    # Patches moved one place along: each query's own key now scores 0 and a wrong one 1/tau, so the
    # loss is log(exp(1/tau) + 7) instead.
    shuffled = keys[:, torch.roll(torch.arange(8), 1)]
    assert info_nce(shuffled, keys, tau).item() == pytest.approx(math.log(math.exp(1 / tau) + 7), rel=1e-5)


def test_content_term_is_lowest_for_the_identity():
    torch.manual_seed(0)
    net = Translator(channels=8, blocks=2)
    projector = PatchProjector(net.feature_channels, dim=32)
    photo = torch.rand(2, 3, 32, 32) * 2 - 1
    same = patch_nce_loss(net, projector, photo, photo, 16, torch.Generator().manual_seed(1)).item()
    flipped = patch_nce_loss(net, projector, photo, photo.flip(2, 3), 16, torch.Generator().manual_seed(1)).item()
    noise = patch_nce_loss(net, projector, photo, torch.rand_like(photo) * 2 - 1, 16,
                           torch.Generator().manual_seed(1)).item()
    assert 0 < same < flipped and same < noise


@pytest.mark.parametrize("nce_identity", [False, True])  # FastCUT (the preset) and CUT
def test_translation_resume_is_byte_identical(tmp_path, paintings, photos, nce_identity):
    settings = dict(CUT_TINY, steps=4, checkpoint_every=2, nce_identity=nce_identity)
    kwargs = dict(preset="cut-128", show_progress=False, tensorboard=False)
    straight = monetgan.train(paintings, tmp_path / "a", photos=photos, **kwargs, **settings)
    monetgan.train(paintings, tmp_path / "b", photos=photos, **kwargs, **{**settings, "steps": 2})
    resumed = monetgan.train(paintings, tmp_path / "b", show_progress=False, tensorboard=False, steps=4)
    a, b = digests(straight.checkpoint), digests(resumed.checkpoint)
    assert "projector.safetensors" in a and a == b
    # The held-out photos are listed and never trained on; frames restyle them.
    held = (tmp_path / "a" / "holdout.txt").read_text().split()
    assert held and set(held) < {p.name for p in photos.iterdir()}


def test_photos_are_refused_without_a_translator_and_required_with_one(tmp_path, paintings, photos):
    with pytest.raises(UserError, match="--photos .* only a photo -> painting preset"):
        monetgan.train(paintings, tmp_path / "x", photos=photos, show_progress=False, **dict(TINY, steps=1))
    with pytest.raises(UserError, match="--photos is required"):
        monetgan.train(paintings, tmp_path / "y", preset="cut-128", show_progress=False, **dict(CUT_TINY, steps=1))


def test_kaggle_zip_gives_paintings_to_data_and_photos_to_photos(tmp_path):
    write_paintings(tmp_path / "m", count=12, seed=1)
    write_paintings(tmp_path / "p", count=12, seed=2)
    archive = tmp_path / "gan-getting-started.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for folder, inside in (("m", "monet_jpg"), ("p", "photo_jpg")):
            for f in sorted((tmp_path / folder).iterdir()):
                z.write(f, f"{inside}/{f.name}")
    from monetgan.data.dataset import KAGGLE_PHOTO_FOLDER, load_dataset

    monet = load_dataset(archive, 32, show_progress=False)
    photo = load_dataset(archive, 32, show_progress=False, prefer=KAGGLE_PHOTO_FOLDER)
    assert all(n.startswith("monet_jpg/") for n in monet.names) and len(monet) == 12
    assert all(n.startswith("photo_jpg/") for n in photo.names) and len(photo) == 12


def test_stylize_is_deterministic_keeps_aspect_ratio_and_size(cut_run, tmp_path):
    root, result = cut_run
    src = tmp_path / "in"
    src.mkdir()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 60, 3), dtype=np.uint8)).save(src / "wide.jpg")
    Image.fromarray(np.full((90, 30), 128, np.uint8), "L").save(src / "tall_grey.png")  # greyscale
    Image.new("CMYK", (20, 20), (0, 50, 100, 0)).save(src / "cmyk.jpg")
    Image.new("RGBA", (24, 24), (255, 0, 0, 128)).save(src / "alpha.png")
    (src / "broken.jpg").write_bytes(b"not a jpeg")
    a = stylize(src, tmp_path / "a", run=root / "run", size=64, show_progress=False)
    b = stylize(src, tmp_path / "b", run=root / "run", size=64, show_progress=False)
    assert [p.name for p in a.written] == ["alpha.png", "cmyk.png", "tall_grey.png", "wide.png"]
    assert [name for name, _ in a.skipped] == ["broken.jpg"]
    sizes = {p.name: Image.open(p).size for p in a.written}
    assert sizes == {"wide.png": (64, 43), "tall_grey.png": (21, 64), "cmyk.png": (64, 64), "alpha.png": (64, 64)}
    assert output_shape(60, 40, 64) == (64, 43)
    for x, y in zip(a.written, b.written):
        assert hashlib.sha256(x.read_bytes()).digest() == hashlib.sha256(y.read_bytes()).digest()
    # The painting is not the photo passed through.
    wide = np.asarray(Image.open(tmp_path / "a" / "wide.png")).astype(int)
    photo = np.asarray(Image.open(src / "wide.jpg").resize((64, 43))).astype(int)
    assert np.abs(wide - photo).mean() > 1


def test_stylize_never_overwrites_without_the_flag(cut_run, tmp_path):
    root, _ = cut_run
    photo = tmp_path / "one.jpg"
    Image.new("RGB", (32, 32), (10, 120, 200)).save(photo)
    out = tmp_path / "out"
    out.mkdir()
    (out / "one.png").write_bytes(b"mine")
    result = run_cli("stylize", photo, "--out", out, "--run", root / "run", "--size", 32, "--quiet")
    assert_one_line_error(result, "one.png", "--overwrite")
    assert (out / "one.png").read_bytes() == b"mine"
    result = run_cli("stylize", photo, "--out", out, "--run", root / "run", "--size", 32, "--quiet", "--overwrite")
    assert result.returncode == 0, result.stderr
    assert Image.open(out / "one.png").size == (32, 32)


def test_stylize_bad_inputs_are_one_line(cut_run, tmp_path, paintings):
    root, _ = cut_run
    empty = tmp_path / "empty"
    empty.mkdir()
    assert_one_line_error(run_cli("stylize", empty, "--out", tmp_path / "o", "--run", root / "run"), "no .jpg")
    # A painter (noise -> painting) is not a stylizer.
    painter = monetgan.train(paintings, tmp_path / "painter", show_progress=False, tensorboard=False,
                             **dict(TINY, steps=1, checkpoint_every=1))
    assert_one_line_error(run_cli("stylize", paintings, "--out", tmp_path / "o", "--run", painter.run_dir),
                          "monetgan paint")


def test_evaluate_judges_a_stylizer_on_its_held_out_photos(cut_run):
    root, _ = cut_run
    report = monetgan.evaluate(root / "run", real=root / "paintings", num=50, cache_dir=None, show_progress=False)
    held = (root / "run" / "holdout.txt").read_text().split()
    assert report["photos"]["num"] == len(held) and "held out" in report["photos"]["source"]
    row = report["results"][0]
    assert row["num_fake"] == len(held)
    assert -1 <= row["content_cosine"] < 0.9999  # a painting, not the photo passed through
    assert "content kept" in monetgan.format_report(report)


def test_photos_alone_are_judged_with_the_bundled_stylizer(cut_run, tmp_path, monkeypatch, photos):
    root, _ = cut_run
    import monetgan.painting.stylize as stylize_module
    from monetgan.painting.bundled import bundle

    ckpt = sorted((root / "run" / "checkpoints").iterdir())[-1]
    bundle(ckpt, tmp_path / "weights", name="stylizer")
    monkeypatch.setattr(stylize_module, "weights_dir", lambda: tmp_path / "weights")
    import monetgan.reports.evaluate as ev
    monkeypatch.setattr(ev, "FID_INFINITY_MIN_IMAGES", 20)  # 20 photos: extrapolate for both sets
    report = monetgan.evaluate(photos=photos, real=root / "paintings", cache_dir=tmp_path / "cache",
                               show_progress=False)
    row = report["results"][0]
    assert row["name"] == "bundled-stylizer" and row["num_fake"] == report["photos"]["num"] == 20
    # The same stylizer read from its run paints the same pictures, so it scores the same; the
    # paintings' and the photos' features come from the cache, and only its paintings are extracted.
    assert np.isfinite(report["photos"]["fid_infinity"]) and np.isfinite(row["fid_infinity"])
    assert f"FID_inf {report['photos']['fid_infinity']:.2f}" in monetgan.format_report(report)
    photos_pr = report["photos"]["precision_recall"]  # the photos' own, beside the paintings'
    assert f"precision {photos_pr['precision']:.3f}" in monetgan.format_report(report)
    extracted, original = [], ev.InceptionFeatures.__call__
    monkeypatch.setattr(ev.InceptionFeatures, "__call__",
                        lambda self, images, *a, **k: extracted.append(len(images)) or original(self, images, *a, **k))
    again = monetgan.evaluate(checkpoint=ckpt, photos=photos, real=root / "paintings", cache_dir=tmp_path / "cache",
                              show_progress=False)
    assert extracted == [20]
    assert again["results"][0]["fid"] == pytest.approx(row["fid"], rel=1e-6)
    assert again["photos"]["fid"] == pytest.approx(report["photos"]["fid"], rel=1e-9)


def test_paint_refuses_a_stylizer_in_one_line(cut_run, tmp_path):
    root, _ = cut_run
    assert_one_line_error(run_cli("paint", "--run", root / "run", "--out", tmp_path / "o"), "monetgan stylize")
    assert_one_line_error(run_cli("interpolate", "--seeds", "1,2", "--frames", 4, "--out", tmp_path / "w.gif",
                                  "--run", root / "run"), "monetgan stylize")


def test_kaggle_export_from_photos_passes_its_own_validation(cut_run, tmp_path, monkeypatch):
    root, _ = cut_run
    import monetgan.painting.export as export
    import monetgan.painting.export_photos as export_photos
    from monetgan.painting.export import validate_submission

    # Kaggle's bounds, scaled down so a test paints 14 photos instead of 7,000 (the checks are the same code).
    for module in (export, export_photos):
        monkeypatch.setattr(module, "KAGGLE_MIN", 10)
        monkeypatch.setattr(module, "KAGGLE_MAX", 20)
    photos = tmp_path / "kaggle_photos"
    write_paintings(photos, count=14, seed=9)
    result = export_photos.export_kaggle_from_photos(photos, run=root / "run", out=tmp_path / "sub.zip",
                                                     show_progress=False)
    assert validate_submission(result.zip_path) == result.num_images == 14
    manifest = __import__("json").loads(result.manifest_path.read_text())
    assert len(manifest["photo_names"]) == 14 and manifest["near_copy_check"]["left_out"] == []
    with zipfile.ZipFile(result.zip_path) as z:
        assert sorted(z.namelist())[0] == "00000.jpg" and len(z.namelist()) == 14
        with Image.open(z.open("00000.jpg")) as jpeg:
            from PIL import JpegImagePlugin
            assert JpegImagePlugin.get_sampling(jpeg) == 2  # 4:2:0 colour, as Kaggle's paintings
    # The 4:2:0 JPEG is the colour low-pass: no colour blur before it unless one is asked for.
    assert manifest["chroma_blur"] == 0.0 and "4:2:0" in manifest["format"]
    blurred = export_photos.export_kaggle_from_photos(photos, run=root / "run", out=tmp_path / "b" / "sub.zip",
                                                      chroma_blur=1.5, show_progress=False)
    assert __import__("json").loads(blurred.manifest_path.read_text())["chroma_blur"] == 1.5
    # Too few photos for Kaggle is one clear error; a zip of the wrong size fails validation.
    few = tmp_path / "few"
    write_paintings(few, count=5, seed=4)
    with pytest.raises(UserError, match="Kaggle accepts"):
        export_photos.export_kaggle_from_photos(few, run=root / "run", out=tmp_path / "few.zip", show_progress=False)
    import io

    small = io.BytesIO()
    Image.new("RGB", (128, 128)).save(small, format="JPEG")
    with zipfile.ZipFile(tmp_path / "bad.zip", "w") as z:
        for i in range(12):
            z.writestr(f"{i:05d}.jpg", small.getvalue())
    with pytest.raises(UserError, match="not a 256x256 RGB JPEG"):
        validate_submission(tmp_path / "bad.zip")


def test_strength_scales_the_learned_change_in_tanhs_pre_image():
    torch.manual_seed(0)
    photo = torch.rand(2, 3, 32, 32) * 1.6 - 0.8
    net = Translator(channels=8, blocks=2, residual=True).eval()
    torch.nn.init.normal_(net.to_rgb.weight, std=0.05)  # a trained-looking, non-zero change
    with torch.no_grad():
        as_trained = net(photo)
        net.strength = 1.0
        assert torch.equal(net(photo), as_trained)  # 1 is exactly the translator as it trained
        base = torch.atanh(photo)
        change = torch.atanh(as_trained) - base
        assert change.abs().mean() > 0.05
        for strength in (0.0, 0.5, 1.5):
            set_strength(net, strength)
            torch.testing.assert_close(torch.atanh(net(photo)) - base, strength * change, atol=2e-4, rtol=1e-3)
    with pytest.raises(UserError, match="0..2"):
        set_strength(net, 2.5)
    with pytest.raises(UserError, match="0..2"):
        set_strength(net, float("nan"))
    with pytest.raises(UserError, match="no strength"):  # a plain translator paints whole images
        set_strength(Translator(channels=8, blocks=2), 0.5)
    set_strength(Translator(channels=8, blocks=2), 1.0)  # ... and 1 is what it does anyway


def test_stylize_strength_zero_gives_the_photo_back_and_bad_strengths_are_one_line(cut_run, tmp_path):
    root, _ = cut_run
    src = tmp_path / "in"
    src.mkdir()
    pixels = np.random.default_rng(1).integers(0, 256, (32, 48, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(src / "p.png")  # lossless, and already the output size
    away = {}
    for strength in (0.0, 1.0, 2.0):
        out = stylize(src, tmp_path / str(strength), run=root / "run", size=48, strength=strength, show_progress=False)
        away[strength] = np.abs(np.asarray(Image.open(out.written[0])).astype(int) - pixels)
    assert away[0.0].max() <= 1  # the photo itself (the atanh clamp moves 0 and 255 by one level)
    assert away[2.0].mean() > away[1.0].mean() > away[0.0].mean()  # further along the learned change
    result = run_cli("stylize", src, "--out", tmp_path / "o", "--run", root / "run", "--strength", "3")
    assert_one_line_error(result, "--strength", "0..2")
    assert not (tmp_path / "o").exists()
    result = run_cli("export-kaggle", "--run", root / "run", "--strength", "0.5", "--out", tmp_path / "x.zip")
    assert_one_line_error(result, "--strength", "--photos")
    result = run_cli("stylize", src, "--out", tmp_path / "o", "--run", root / "run", "--chroma-blur", "-1")
    assert_one_line_error(result, "--chroma-blur", "0..8")
    assert not (tmp_path / "o").exists()
    result = run_cli("export-kaggle", "--run", root / "run", "--chroma-blur", "1", "--out", tmp_path / "x.zip")
    assert_one_line_error(result, "--chroma-blur", "--photos")


def test_precision_auto_follows_the_cpu_and_explicit_precisions_are_obeyed(monkeypatch):
    cpu = torch.device("cpu")
    for native in (True, False):
        monkeypatch.setattr(devices, "cpu_has_native_bf16", lambda native=native: native)
        assert devices.computes_in_bf16(cpu, "auto") is native
        assert devices.computes_in_bf16(cpu, "fp32") is False and devices.computes_in_bf16(cpu, "bf16") is True
    assert devices.computes_in_bf16(torch.device("cuda"), "auto") is True


def test_a_stylizer_paints_in_the_precision_asked_for(cut_run, tmp_path):
    root, _ = cut_run
    translator = load_stylizer(root / "run")
    photos = np.random.default_rng(2).integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    fp32 = stylize_batch(translator, photos, precision="fp32")
    with torch.no_grad():  # fp32 is the translator itself, bit for bit
        direct = to_uint8(translator.eval()(from_uint8(photos)))
    assert np.array_equal(fp32, direct)
    bf16 = stylize_batch(translator, photos, precision="bf16")
    gap = np.abs(bf16.astype(int) - fp32)
    assert gap.max() > 0 and gap.mean() < 2  # computed otherwise, the same painting to within rounding
    src = tmp_path / "in"
    src.mkdir()
    Image.fromarray(photos[0]).save(src / "p.png")
    one = stylize(src, tmp_path / "one", run=root / "run", size=32, precision="bf16", show_progress=False)
    assert np.array_equal(np.asarray(Image.open(one.written[0])), bf16[0])  # stylize paints as stylize_batch
    result = run_cli("stylize", src, "--out", tmp_path / "o", "--run", root / "run", "--precision", "fp16")
    assert result.returncode == 2 and "--precision" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "o").exists()
    result = run_cli("export-kaggle", "--run", root / "run", "--precision", "bf16", "--out", tmp_path / "x.zip")
    assert_one_line_error(result, "--precision", "--photos")
    with pytest.raises(UserError, match="--precision"):
        stylize(src, tmp_path / "o", run=root / "run", precision="fp16", show_progress=False)


def test_evaluate_refuses_a_stylizers_flags_for_a_painter_in_one_line(tiny_run, tmp_path):
    run, _ = tiny_run
    for flag, value in (("--precision", "bf16"), ("--strength", "0.5"), ("--chroma-blur", "1")):
        result = run_cli("evaluate", "--run", run, "--real", run.parent / "data", "--num", "4", flag, value)
        assert_one_line_error(result, flag, "paints from noise")


def _luma(x: torch.Tensor) -> torch.Tensor:
    return 0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2]


def _high_band_power(x: torch.Tensor) -> float:
    """Power above half the Nyquist frequency (the outer ring of the 2-D spectrum)."""
    spectrum = torch.fft.fftshift(torch.fft.fft2(x - x.mean(dim=(-2, -1), keepdim=True)), dim=(-2, -1)).abs() ** 2
    h, w = x.shape[-2:]
    yy, xx = torch.meshgrid(torch.arange(h) - h // 2, torch.arange(w) - w // 2, indexing="ij")
    return spectrum[..., (yy.float() ** 2 + xx.float() ** 2).sqrt() > h / 4].mean().item()


def test_chroma_low_pass_keeps_brightness_and_smooths_only_colour():
    g = torch.Generator().manual_seed(0)
    image = torch.rand(2, 3, 64, 64, generator=g) * 2 - 1
    out = chroma_low_pass(image, 1.0)
    torch.testing.assert_close(_luma(out), _luma(image), atol=1e-5, rtol=0)  # brightness untouched
    cb = lambda x: -0.168736 * x[:, 0] - 0.331264 * x[:, 1] + 0.5 * x[:, 2]
    assert _high_band_power(cb(out)) < _high_band_power(cb(image)) / 20  # fine colour noise is gone
    grey = (torch.rand(1, 1, 64, 64, generator=g) * 2 - 1).expand(1, 3, 64, 64)
    torch.testing.assert_close(chroma_low_pass(grey, 2.0), grey, atol=1e-5, rtol=0)  # grey has no colour
    flat = torch.tensor([0.6, -0.2, 0.1]).view(1, 3, 1, 1).expand(1, 3, 32, 32)
    torch.testing.assert_close(chroma_low_pass(flat, 2.0), flat, atol=1e-5, rtol=0)  # nor a flat colour to blur
    assert chroma_low_pass(image, 0.0) is image


def test_a_translators_chroma_blur_is_a_fixed_filter_on_what_it_paints():
    torch.manual_seed(0)
    photo = torch.rand(2, 3, 32, 32) * 1.6 - 0.8
    net = Translator(channels=8, blocks=2, residual=True).eval()
    torch.nn.init.normal_(net.to_rgb.weight, std=0.05)
    with torch.no_grad():
        plain = net(photo)
        set_chroma_blur(net, 1.5)
        torch.testing.assert_close(net(photo), chroma_low_pass(plain, 1.5))
    assert sum(p.numel() for p in net.parameters()) == sum(p.numel() for p in Translator(8, 2, residual=True).parameters())
    with pytest.raises(UserError, match="0..8"):
        set_chroma_blur(net, -1.0)
    cfg = config_from_dict({"generator": "translator", "translator_chroma_blur": 0.75}, "test")
    assert build_generator(cfg).chroma_blur == 0.75  # a run's config trains and paints with it
    with pytest.raises(UserError, match="translator_chroma_blur"):
        config_from_dict({"generator": "translator", "translator_chroma_blur": 9}, "test")


def test_a_cards_strength_is_applied_and_checked(cut_run, tmp_path):
    root, result = cut_run
    file = bundle(result.checkpoint, tmp_path / "w", name="s")
    card_path = file.with_suffix(".json")
    card = json.loads(card_path.read_text())
    assert load_bundled("s", device="cpu", folder=file.parent).strength == 1.0  # no strength in the card: 1
    card_path.write_text(json.dumps({**card, "strength": 0.5}))
    assert load_bundled("s", device="cpu", folder=file.parent).strength == 0.5
    assert load_stylizer(weights=file, device="cpu", strength=0.25).strength == 0.25  # the flag wins
    card_path.write_text(json.dumps({**card, "strength": 5}))
    with pytest.raises(UserError, match=r"s\.json: strength"):
        load_bundled("s", device="cpu", folder=file.parent)
    card_path.write_text(json.dumps(card))
    assert load_bundled("s", device="cpu", folder=file.parent).chroma_blur == 0.0  # none in card or config: off
    card_path.write_text(json.dumps({**card, "chroma_blur": 1.0}))
    assert load_bundled("s", device="cpu", folder=file.parent).chroma_blur == 1.0
    assert load_stylizer(weights=file, device="cpu", chroma_blur=0.0).chroma_blur == 0.0  # the flag wins
    card_path.write_text(json.dumps({**card, "chroma_blur": "a lot"}))
    with pytest.raises(UserError, match=r"s\.json: chroma_blur must be a number"):
        load_bundled("s", device="cpu", folder=file.parent)
    card_path.write_text(json.dumps({**card, "chroma_blur": 20}))
    with pytest.raises(UserError, match=r"s\.json: chroma_blur"):
        load_bundled("s", device="cpu", folder=file.parent)


def test_evaluate_at_strength_zero_judges_the_photos_themselves(cut_run):
    root, _ = cut_run
    report = monetgan.evaluate(root / "run", real=root / "paintings", num=50, cache_dir=None, strength=0.0,
                               precision="fp32", show_progress=False)
    row = report["results"][0]
    assert row["strength"] == 0.0 and row["content_cosine"] > 0.999 and row["bf16"] is False
    assert abs(row["fid"] - report["photos"]["fid"]) < 0.05 * report["photos"]["fid"]
    assert "(strength 0)" in monetgan.format_report(report)
    with pytest.raises(UserError, match="0..2"):
        monetgan.evaluate(root / "run", real=root / "paintings", num=50, cache_dir=None, strength=5.0,
                          show_progress=False)
    # In bf16: the 49-tap colour blur once stalled in oneDNN's bf16 kernel generation (nets/layers.py).
    blurred = monetgan.evaluate(root / "run", real=root / "paintings", num=50, cache_dir=None, strength=0.0,
                                chroma_blur=8.0, precision="bf16", show_progress=False)
    row8 = blurred["results"][0]
    assert row8["chroma_blur"] == 8.0 and row8["content_cosine"] < row["content_cosine"]  # the photo's colour washed
    assert "(strength 0, colour blur 8 px, computed in bf16)" in monetgan.format_report(blurred)
    with pytest.raises(UserError, match="--chroma-blur"):
        monetgan.evaluate(root / "run", real=root / "paintings", num=50, cache_dir=None, chroma_blur=-2.0,
                          show_progress=False)


def test_a_stylizer_checkpoint_hands_on_its_critic_and_patch_projector(cut_run, tmp_path):
    from safetensors.torch import load_file

    root, result = cut_run
    monetgan.train(root / "paintings", tmp_path / "ft", preset="cut-128", photos=root / "photos", show_progress=False,
                   tensorboard=False, **dict(CUT_TINY, steps=1, checkpoint_every=1, critic_warmup=1,
                                             init_from=str(result.checkpoint)))
    ckpt = tmp_path / "ft" / "checkpoints" / "step-000001"
    for stem in ("projector", "generator_ema"):  # generator-side: held while the critic warms up
        src, got = load_file(str(result.checkpoint / f"{stem}.safetensors")), load_file(str(ckpt / f"{stem}.safetensors"))
        assert src.keys() == got.keys() and all(torch.equal(src[k], got[k]) for k in src), stem
    assert "init_critic_sha256" in json.loads((tmp_path / "ft" / "run.json").read_text())


def test_evaluate_with_jpeg_judges_the_paintings_as_a_submission_stores_them(cut_run, monkeypatch):
    import monetgan.reports.evaluate as ev
    from monetgan.painting.export import as_submitted

    root, _ = cut_run
    judged = []
    original = ev.InceptionFeatures.__call__

    def spy(self, images, *args, **kwargs):
        judged.append(images.copy())
        return original(self, images, *args, **kwargs)

    monkeypatch.setattr(ev.InceptionFeatures, "__call__", spy)
    plain = monetgan.evaluate(root / "run", real=root / "paintings", num=50, cache_dir=None, show_progress=False)
    painted = judged[-1]
    jpeg = monetgan.evaluate(root / "run", real=root / "paintings", num=50, cache_dir=None, jpeg=10,
                             show_progress=False)
    assert np.array_equal(judged[-1], as_submitted(painted, 10))  # the paintings themselves, then the JPEG
    assert jpeg["settings"]["jpeg"] == 10 and plain["settings"]["jpeg"] is None
    assert jpeg["results"][0]["fid"] != pytest.approx(plain["results"][0]["fid"])
    assert jpeg["photos"]["fid"] == pytest.approx(plain["photos"]["fid"])  # the photos are judged as they are
    assert "JPEG at quality 10" in monetgan.format_report(jpeg)
    with pytest.raises(UserError, match="--jpeg 101"):
        monetgan.evaluate(root / "run", real=root / "paintings", num=50, cache_dir=None, jpeg=101, show_progress=False)
    with pytest.raises(UserError, match="--fake"):
        monetgan.evaluate(fake=root / "paintings", real=root / "paintings", cache_dir=None, jpeg=95, show_progress=False)
    with pytest.raises(UserError, match="--judge-at native"):  # a submission's JPEGs are 256 px
        monetgan.evaluate(root / "run", real=root / "paintings", num=50, cache_dir=None, jpeg=95, judge_at="native",
                          show_progress=False)
