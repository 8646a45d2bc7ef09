import io
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

from monetgan.data.dataset import BatchOrder, NoneAskedFor, load_dataset, real_batch
from monetgan.errors import UserError
from monetgan.data.images import decode_square, from_uint8, to_uint8

from conftest import write_paintings


def encode(array, fmt="PNG", mode=None):
    buf = io.BytesIO()
    Image.fromarray(array, mode=mode).save(buf, format=fmt)
    return buf.getvalue()


def test_recursive_folder_with_mixed_formats(tmp_path):
    write_paintings(tmp_path / "a", count=3)
    write_paintings(tmp_path / "a" / "deeper", count=2, seed=1)
    Image.new("RGB", (20, 20), "red").save(tmp_path / "a" / "x.webp")
    (tmp_path / "a" / "notes.txt").write_text("not an image, not counted")
    ds = load_dataset(tmp_path / "a", 32, show_progress=False)
    assert len(ds) == 6 and ds.images.dtype == torch.uint8 and ds.images.shape == (6, 3, 32, 32)
    assert ds.skipped == []


def test_pixels_are_the_decoded_images_channels_last(tmp_path):
    rng = np.random.default_rng(0)
    art = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    art[:, :8] = (255, 0, 0)  # rows, columns and channels all differ, so any transpose shows
    (tmp_path / "a.png").write_bytes(encode(art))
    pixels = load_dataset(tmp_path, 32, show_progress=False).pixels()
    assert pixels.shape == (1, 32, 32, 3) and pixels.dtype == np.uint8 and pixels.flags.c_contiguous
    np.testing.assert_array_equal(pixels[0], decode_square(encode(art), 32))
    assert tuple(pixels[0, 5, 2]) == (255, 0, 0) and tuple(pixels[0, 2, 20]) != (255, 0, 0)


def test_centre_crop_keeps_the_middle():
    img = np.zeros((40, 120, 3), np.uint8)
    img[:, 40:80] = 255  # white square in the middle of a wide black image
    out = decode_square(encode(img), 16)
    assert out.shape == (16, 16, 3) and out.min() > 240


def test_alpha_is_composited_on_white_and_grey_becomes_rgb():
    rgba = np.zeros((8, 8, 4), np.uint8)  # fully transparent black
    assert decode_square(encode(rgba, mode="RGBA"), 8).min() == 255
    grey = np.full((8, 8), 100, np.uint8)
    assert (decode_square(encode(grey, mode="L"), 8) == 100).all()


def test_sixteen_bit_png_is_scaled_not_clipped():
    arr = np.full((8, 8), 32768, np.uint16)
    img = Image.fromarray(arr)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    out = decode_square(buf.getvalue(), 8)
    assert 126 <= out.mean() <= 129


def test_bad_files_are_skipped_and_listed(tmp_path):
    write_paintings(tmp_path, count=3)
    (tmp_path / "text.jpg").write_text("hello")
    (tmp_path / "empty.png").write_bytes(b"")
    good = (tmp_path / "p000.jpg").read_bytes()
    (tmp_path / "truncated.jpg").write_bytes(good[:100])
    ds = load_dataset(tmp_path, 16, show_progress=False)
    assert len(ds) == 3
    assert sorted(name for name, _ in ds.skipped) == ["empty.png", "text.jpg", "truncated.jpg"]


def test_all_bad_folder_is_a_user_error(tmp_path):
    (tmp_path / "a.jpg").write_text("nope")
    with pytest.raises(UserError, match="none of the 1 image files"):
        load_dataset(tmp_path, 16, show_progress=False)


def test_kaggle_zip_takes_monet_folder_only(tmp_path):
    photo, monet = np.zeros((16, 16, 3), np.uint8), np.full((16, 16, 3), 200, np.uint8)
    path = tmp_path / "gan-getting-started.zip"
    with zipfile.ZipFile(path, "w") as z:
        for i in range(3):
            z.writestr(f"monet_jpg/m{i}.jpg", encode(monet, "JPEG"))
            z.writestr(f"photo_jpg/p{i}.jpg", encode(photo, "JPEG"))
        z.writestr("monet_tfrec/x.tfrec", b"ignored")
    ds = load_dataset(path, 16, show_progress=False)
    assert len(ds) == 3 and ds.images.float().mean() > 150


def test_zip_with_unsafe_paths_skips_them(tmp_path):
    path = tmp_path / "evil.zip"
    good = encode(np.full((16, 16, 3), 50, np.uint8))
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("ok.png", good)
        z.writestr("../escape.png", good)
        z.writestr("/abs.png", good)
    ds = load_dataset(path, 16, show_progress=False)
    assert ds.names == ["ok.png"]
    assert {n for n, _ in ds.skipped} == {"../escape.png", "/abs.png"}
    assert not (tmp_path.parent / "escape.png").exists()


def test_batch_order_is_a_resumable_sequence_of_permutations():
    order = BatchOrder(10, seed=3)
    batches = [order.next_indices(4) for _ in range(5)]  # 20 indices = two epochs exactly
    flat = torch.cat(batches)
    assert sorted(flat[:10].tolist()) == list(range(10)) and sorted(flat[10:].tolist()) == list(range(10))
    again = BatchOrder(10, seed=3)
    again.next_indices(4), again.next_indices(4)
    resumed = BatchOrder(10, seed=3, **again.state())
    assert torch.equal(resumed.next_indices(12), flat[8:20])


def test_real_batch_range_and_flip():
    images = torch.arange(2 * 3 * 2 * 2, dtype=torch.uint8).view(2, 3, 2, 2) * 10
    batch = real_batch(images, torch.tensor([0, 1]), torch.tensor([False, True]))
    assert batch.min() >= -1 and batch.max() <= 1
    torch.testing.assert_close(batch[0], images[0].float() / 127.5 - 1)
    torch.testing.assert_close(batch[1], images[1].float().flip(2) / 127.5 - 1)


def test_only_decodes_the_named_images_and_names_a_miss(tmp_path):
    write_paintings(tmp_path / "d", count=6)
    full = load_dataset(tmp_path / "d", 16, show_progress=False)
    some = load_dataset(tmp_path / "d", 16, show_progress=False, only={"p001.png", "p004.jpg", "elsewhere.jpg"})
    assert some.names == ["p001.png", "p004.jpg"]
    assert torch.equal(some.images, full.images[[1, 4]])
    with pytest.raises(NoneAskedFor, match="none of the 1 paintings asked for"):
        load_dataset(tmp_path / "d", 16, show_progress=False, only={"missing.jpg"})
    # A folder that is not there is a different error, which callers must not mistake for a miss.
    with pytest.raises(UserError) as missing:
        load_dataset(tmp_path / "nowhere", 16, show_progress=False, only={"p001.png"})
    assert not isinstance(missing.value, NoneAskedFor)


def test_pixels_to_network_range_and_back_is_exact_for_every_value():
    pixels = np.random.default_rng(0).integers(0, 256, (2, 5, 7, 3), dtype=np.uint8)
    pixels[0, 0, :3, 0] = [0, 128, 255]
    x = from_uint8(pixels)
    assert x.shape == (2, 3, 5, 7) and x.dtype == torch.float32
    assert x[0, 0, 0, :3].tolist() == pytest.approx([-1.0, 128 / 127.5 - 1, 1.0], abs=1e-6)
    assert np.array_equal(to_uint8(x), pixels)
    assert torch.equal(from_uint8(pixels[:, ::-1]), x.flip(2))  # a strided view is taken as it reads
