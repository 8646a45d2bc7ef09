"""Bad inputs, all made here at test time with Pillow and numpy: each is used (as RGB) or skipped with
a reason, and the command line answers a hopeless folder with one line, never a traceback.

test_data.py covers the basics (a text file, an empty and a truncated file, fully transparent RGBA,
greyscale, a bright 16-bit PNG, ../ and absolute zip members); this file covers the rest.
"""

from __future__ import annotations

import io
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import TINY, one_thread_env, write_paintings
from PIL import Image, ImageFile

from monetgan.config import build_config, load_preset, parse_set_items
from monetgan.data.dataset import MAX_FILE_BYTES, BatchOrder, display_name, load_dataset
from monetgan.errors import UserError
from monetgan.data.images import MAX_PIXELS, UnusableImage, decode_square

# ------------------------------------------------------------------------------------------------
# Makers
# ------------------------------------------------------------------------------------------------

def encode(img: Image.Image, fmt: str, **options) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **options)
    return buf.getvalue()


def solid(size: tuple[int, int], colour: tuple[int, ...], mode: str = "RGB") -> Image.Image:
    return Image.new(mode, size, colour)


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def png(width: int, height: int, bit_depth: int = 8, colour_type: int = 2, rows: bytes = b"") -> bytes:
    """A PNG written byte by byte, so it can claim any size and any bit depth Pillow's writer won't."""
    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", zlib.compress(rows))
            + png_chunk(b"IEND", b""))


def grey16_png(value: int, side: int = 8) -> bytes:
    """A side x side 16-bit greyscale PNG filled with `value` (0..65535)."""
    row = b"\x00" + struct.pack(">H", value) * side  # filter byte 0, then big-endian samples
    return png(side, side, bit_depth=16, colour_type=0, rows=row * side)


def jpeg_claiming(width: int, height: int) -> bytes:
    """A small valid JPEG whose frame header is patched to declare width x height."""
    data = bytearray(encode(solid((16, 16), (90, 90, 90)), "JPEG"))
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def valid_jpeg() -> bytes:
    yy, xx = np.mgrid[0:48, 0:64]
    return encode(Image.fromarray(np.stack([xx * 3, yy * 4, xx + yy], -1).astype(np.uint8)), "JPEG")


def visible_lines(stream: str) -> list[str]:
    """Lines with progress-bar redraws dropped: the text after a line's last carriage return."""
    lines = [line.split("\r")[-1].rstrip() for line in stream.split("\n")]
    return [line for line in lines if line]


def run_cli(*args: object, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "monetgan", *map(str, args)], check=False, capture_output=True, text=True,
                          timeout=timeout, env=one_thread_env())


def assert_one_line_error(result: subprocess.CompletedProcess, *needles: str) -> None:
    """Exit status 2 and exactly one line on stderr (run with --quiet: no progress bars to discount)."""
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


TINY_SET = [f"{k}={v}" for k, v in TINY.items()]


# ------------------------------------------------------------------------------------------------
# Readable images of every mode and shape are converted to RGB and used
# ------------------------------------------------------------------------------------------------

def _palette_with_transparency() -> bytes:
    img = Image.new("P", (8, 8), 0)
    img.putpalette([10, 200, 30] + [0, 0, 0] * 255)  # index 0: green; index 1: transparent
    img.paste(1, (0, 0, 8, 4))  # top half uses the transparent index
    return encode(img, "PNG", transparency=1)


def _cmyk_jpeg() -> bytes:
    return encode(solid((24, 16), (0, 255, 255, 0), "CMYK"), "JPEG", quality=95)  # no black, full M+Y: red


def _half_transparent_grey_alpha() -> bytes:
    return encode(solid((8, 8), (0, 128), "LA"), "PNG")  # black at 50% alpha on white: mid grey


@pytest.mark.parametrize("make,top,bottom,tolerance", [
    (_palette_with_transparency, (255, 255, 255), (10, 200, 30), 0),  # transparent index -> white canvas
    (_half_transparent_grey_alpha, (127, 127, 127), (127, 127, 127), 1),
    (_cmyk_jpeg, (255, 0, 0), (255, 0, 0), 6),
    (lambda: encode(solid((8, 8), 1, "1"), "PNG"), (255, 255, 255), (255, 255, 255), 0),
    (lambda: grey16_png(1000), (4, 4, 4), (4, 4, 4), 0),  # 1000/65535: dark stays dark, not 255
    (lambda: grey16_png(65535), (255, 255, 255), (255, 255, 255), 0),
    (lambda: encode(solid((8, 8), (200, 40, 60, 255), "RGBA"), "WEBP", lossless=True), (200, 40, 60), (200, 40, 60), 0),
    (lambda: encode(solid((16, 16), (200, 40, 60)), "MPO", save_all=True,
                    append_images=[solid((16, 16), (0, 0, 255))]), (200, 40, 60), (200, 40, 60), 6),
], ids=["palette-transparency", "grey-alpha", "cmyk-jpeg", "1-bit", "16-bit-dark", "16-bit-white", "webp-rgba",
        "mpo-first-frame"])
def test_image_modes_become_the_right_rgb(make, top, bottom, tolerance):
    out = decode_square(make(), 8).astype(int)
    assert out.shape == (8, 8, 3)
    assert np.abs(out[0] - top).max() <= tolerance and np.abs(out[-1] - bottom).max() <= tolerance


def _orientation_photo(orientation: int, size: tuple[int, int]) -> bytes:
    """Stored landscape: left half red, right half blue, with an EXIF orientation tag."""
    w, h = size
    img = solid(size, (255, 0, 0))
    img.paste((0, 0, 255), (w // 2, 0, w, h))
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encode(img, "JPEG", quality=95, exif=exif.tobytes())


def _colour_name(pixel: np.ndarray) -> str:
    r, _, b = (int(v) for v in pixel)
    return "red" if r > 200 and b < 60 else "blue" if b > 200 and r < 60 else "mixed"


# (top-left, bottom-right) of the centre-cropped result as seen upright.
@pytest.mark.parametrize("orientation,expected", [
    (1, ("red", "blue")),  # as stored: red left, blue right
    (3, ("blue", "red")),  # rotated 180: blue left, red right
    (6, ("red", "blue")),  # rotate 90 clockwise: stored left edge becomes the top
    (8, ("blue", "red")),  # rotate 90 anticlockwise: stored right edge becomes the top
])
@pytest.mark.parametrize("size", [(40, 20), (320, 160)], ids=["small", "draft-scaled"])
def test_exif_orientation_is_applied(orientation, expected, size):
    out = decode_square(_orientation_photo(orientation, size), 16)
    assert (_colour_name(out[1, 1]), _colour_name(out[-2, -2])) == expected
    if orientation in (6, 8):  # upright the photo is portrait: the top row is one colour across
        assert _colour_name(out[1, -2]) == expected[0]
    else:  # still landscape: the left column is one colour down
        assert _colour_name(out[-2, 1]) == expected[0]


@pytest.mark.filterwarnings("error")
def test_corrupt_exif_is_ignored_quietly():
    """Regression (found by test_fuzz): Pillow's "Corrupt EXIF data" UserWarning escaped decode_square,
    and under -W error became an exception. The pixels are fine, so the photo is used as stored."""
    data = encode(solid((16, 8), (255, 0, 0)), "JPEG", exif=b"Exif\x00\x00II*\x00\x08\x00\x00\x00\x05\x00")
    out = decode_square(data, 8)
    assert out.shape == (8, 8, 3) and _colour_name(out[4, 4]) == "red"


@pytest.mark.parametrize("size", [(1, 1), (5, 7), (4000, 3), (3, 4000)], ids=str)
@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_tiny_and_extreme_aspect_images_are_used(size, fmt):
    """Smaller than the resolution or 1000:1: centre-cropped to a square and upscaled; the colour survives."""
    colour = (200, 30, 90)
    out = decode_square(encode(solid(size, colour), fmt, **({"quality": 95} if fmt == "JPEG" else {})), 32)
    assert out.shape == (32, 32, 3) and out.dtype == np.uint8
    assert np.abs(out.astype(int) - colour).max() <= (8 if fmt == "JPEG" else 1)


# ------------------------------------------------------------------------------------------------
# Decompression bombs: refused from the header, before any pixel is decoded
# ------------------------------------------------------------------------------------------------

@pytest.mark.filterwarnings("error")  # Pillow's DecompressionBombWarning must not escape either
@pytest.mark.parametrize("data", [
    png(100_000, 100_000), png(10_000, 10_000), png(8_001, 8_000), jpeg_claiming(65_000, 65_000),
    jpeg_claiming(12_000, 6_000),
], ids=["png-10-gigapixels", "png-100-megapixels", "png-just-over", "jpeg-4-gigapixels", "jpeg-72-megapixels"])
@pytest.mark.parametrize("pillow_limit", ["default", "disabled"])
def test_decompression_bomb_is_refused_without_decoding(data, pillow_limit, monkeypatch):
    if pillow_limit == "disabled":  # another library may switch Pillow's guard off; ours still holds
        monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)

    def no_decoding(self):
        raise AssertionError("pixels were decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    start = time.perf_counter()
    with pytest.raises(UnusableImage, match="pixels"):
        decode_square(data, 32)
    assert time.perf_counter() - start < 2.0
    assert len(data) < 1000


class _ReachedDecoding(Exception):
    pass


def test_the_pixel_limit_is_ours_and_exact(monkeypatch):
    """8000x8000 = MAX_PIXELS goes on to decoding; one column more is refused, whatever Pillow's own limit."""
    assert 8000 * 8000 == MAX_PIXELS
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)

    def reached(self):
        raise _ReachedDecoding

    monkeypatch.setattr(ImageFile.ImageFile, "load", reached)
    with pytest.raises(_ReachedDecoding):
        decode_square(png(8000, 8000), 32)
    with pytest.raises(UnusableImage, match="8001x8000"):
        decode_square(png(8001, 8000), 32)


# ------------------------------------------------------------------------------------------------
# The loader: each bad file is skipped with a reason; the good ones around it load
# ------------------------------------------------------------------------------------------------

def _write(data: bytes):
    return lambda path: path.write_bytes(data)


def _symlink(target):
    return lambda path: path.symlink_to(target(path) if callable(target) else target)


def _sparse(size: int):
    def make(path: Path) -> None:
        with open(path, "wb") as f:
            f.truncate(size)  # a hole: no disk space, no time
    return make


BAD_FILES = [  # (file name, how to make it, a word the reason must contain)
    ("truncated-early.jpg", lambda p: p.write_bytes(valid_jpeg()[:300]), "truncated"),
    ("missing-end.jpg", lambda p: p.write_bytes(valid_jpeg()[:-2]), "truncated"),
    ("no-frame-size.jpg", lambda p: p.write_bytes(jpeg_claiming(0, 0)), "not a JPEG, PNG or WebP"),
    ("broken-huffman.jpg", lambda p: p.write_bytes(valid_jpeg().replace(b"\xff\xc4\x00", b"\xff\xc4\xff", 1)),
     "not a readable image"),
    ("zero-bytes.jpg", _write(b""), "empty file"),
    ("a-gif.jpg", lambda p: p.write_bytes(encode(solid((8, 8), (1, 2, 3)), "GIF")), "not a JPEG, PNG or WebP"),
    ("a-tiff.png", lambda p: p.write_bytes(encode(solid((8, 8), (1, 2, 3)), "TIFF")), "not a JPEG, PNG or WebP"),
    ("postscript.jpg", _write(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 8 8\nshowpage\n"), "not a JPEG, PNG or WebP"),
    ("bad-crc.png", lambda p: p.write_bytes(png(8, 8, rows=b"\x00" + b"\x10" * 24)[:29] + b"XXXX" + b"\x00" * 40),
     "not a JPEG, PNG or WebP"),
    ("bomb.png", _write(png(100_000, 100_000)), "pixels"),
    ("fifo.jpg", lambda p: os.mkfifo(p), "not a regular file"),
    ("device.jpg", _symlink("/dev/zero"), "not a regular file"),
    ("loop.jpg", _symlink(lambda p: p), "cannot be read"),
    ("dangling.jpg", _symlink("does-not-exist.jpg"), "cannot be read"),
    ("huge.png", _sparse(MAX_FILE_BYTES + 1), "over the"),
]


@pytest.mark.parametrize("name,make,reason", BAD_FILES, ids=[name for name, _, _ in BAD_FILES])
def test_each_bad_file_is_skipped_with_a_reason(tmp_path, name, make, reason):
    if name == "fifo.jpg" and not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs on this platform")
    write_paintings(tmp_path, count=3)
    make(tmp_path / name)
    start = time.perf_counter()
    ds = load_dataset(tmp_path, 16, show_progress=False)
    assert time.perf_counter() - start < 30  # a FIFO, /dev/zero or a bomb must not stall the loader
    assert len(ds) == 3 and ds.names == ["p000.jpg", "p001.png", "p002.jpg"]
    assert [n for n, _ in ds.skipped] == [name]
    why = ds.skipped[0][1]
    assert reason.lower() in why.lower() and "\n" not in why and "BytesIO" not in why, why


def test_every_readable_kind_in_one_folder_is_used(tmp_path):
    files = {
        "palette.png": _palette_with_transparency(), "cmyk.jpg": _cmyk_jpeg(), "grey16.png": grey16_png(30000),
        "grey-alpha.png": _half_transparent_grey_alpha(), "rotated.jpg": _orientation_photo(6, (40, 20)),
        "one-pixel.png": encode(solid((1, 1), (9, 9, 9)), "PNG"), "wide.jpg": encode(solid((4000, 3), (50, 60, 70)), "JPEG"),
        "tall.png": encode(solid((3, 4000), (50, 60, 70)), "PNG"), "grey.jpg": encode(solid((9, 9), 77, "L"), "JPEG"),
        "a-png-named.jpg": encode(solid((9, 9), (1, 2, 3)), "PNG"), "UPPER.JPEG": valid_jpeg(),
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    ds = load_dataset(tmp_path, 32, show_progress=False)
    assert ds.skipped == [] and sorted(ds.names) == sorted(files)
    assert ds.images.shape == (len(files), 3, 32, 32)


def test_macos_metadata_files_are_ignored_not_skipped(tmp_path):
    write_paintings(tmp_path / "art", count=2)
    (tmp_path / "art" / "._p000.jpg").write_bytes(b"\x00\x05\x16\x07AppleDouble")
    write_paintings(tmp_path / "art" / "__MACOSX", count=1)
    ds = load_dataset(tmp_path / "art", 16, show_progress=False)
    assert ds.names == ["p000.jpg", "p001.png"] and ds.skipped == []


def test_symlinked_folder_loop_does_not_hang(tmp_path):
    write_paintings(tmp_path / "art", count=2)
    (tmp_path / "art" / "sub").mkdir()
    (tmp_path / "art" / "sub" / "up").symlink_to(tmp_path / "art")  # art/sub/up/sub/up/... forever
    (tmp_path / "art" / "self").symlink_to("self")
    ds = load_dataset(tmp_path / "art", 16, show_progress=False)
    assert ds.names == ["p000.jpg", "p001.png"] and ds.skipped == []


def test_unreadable_file_and_folder_are_skipped():
    """chmod 000 on a file and a subfolder. Root reads anything, so as root the load runs as `nobody`."""
    if not hasattr(os, "geteuid"):
        pytest.skip("POSIX permissions only")
    folder = Path(tempfile.mkdtemp(prefix="monetgan-unreadable-"))  # pytest's tmp folders are root-only
    try:
        write_paintings(folder, count=2)
        shutil.copy(folder / "p000.jpg", folder / "locked.jpg")
        write_paintings(folder / "locked-folder", count=1)
        for path in (folder / "locked.jpg", folder / "locked-folder"):
            path.chmod(0)
        folder.chmod(0o755)
        if os.geteuid() != 0:
            ds = load_dataset(folder, 16, show_progress=False)
        else:
            # Import every decoder now: as nobody, root's Python installation may not be readable.
            load_dataset(folder, 16, show_progress=False)
            for fmt in ("JPEG", "PNG", "WEBP"):
                decode_square(encode(solid((4, 4), (1, 2, 3)), fmt), 4)
            os.seteuid(65534)  # drops root's capabilities until seteuid(0); the saved uid stays root
            try:
                ds = load_dataset(folder, 16, show_progress=False)
            finally:
                os.seteuid(0)
        assert ds.names == ["p000.jpg", "p001.png"]
        assert ds.skipped == [("locked-folder", "folder cannot be read (Permission denied); its files were not searched"),
                              ("locked.jpg", "cannot be read (Permission denied)")]
    finally:
        for path in (folder / "locked.jpg", folder / "locked-folder"):
            path.chmod(0o700)
        shutil.rmtree(folder)


def test_non_utf8_and_control_character_names_are_shown_safely(tmp_path):
    """Linux names are bytes: undecodable ones and control characters come back escaped, never raw."""
    write_paintings(tmp_path, count=2)
    root = os.fsencode(tmp_path)
    good = (tmp_path / "p000.jpg").read_bytes()
    with open(os.path.join(root, b"caf\xe9.jpg"), "wb") as f:  # Latin-1 e-acute: not UTF-8
        f.write(good)
    with open(os.path.join(root, b"bad\xff\xfe.jpg"), "wb") as f:
        f.write(b"not an image")
    (tmp_path / "two\nlines\x1b[31m.png").write_bytes(b"not an image either")
    ds = load_dataset(tmp_path, 16, show_progress=False)
    assert "caf\\xe9.jpg" in ds.names and len(ds) == 3
    assert sorted(n for n, _ in ds.skipped) == ["bad\\xff\\xfe.jpg", "two\\nlines\\x1b[31m.png"]
    for name in ds.names + [n for n, _ in ds.skipped]:
        assert name.isprintable() and name.encode("utf-8")  # strict UTF-8: would raise on a surrogate


def test_display_name():
    assert display_name("Monet – Nymphéas.jpg") == "Monet – Nymphéas.jpg"  # printable Unicode is kept
    assert display_name(os.fsdecode(b"\xe9t\xe9.jpg")) == "\\xe9t\\xe9.jpg"
    assert display_name("a\tb\r\n\u202e.png") == "a\\tb\\r\\n\\u202e.png"  # incl. right-to-left override


def test_data_path_that_is_a_fifo_or_device_is_a_user_error(tmp_path):
    os.mkfifo(tmp_path / "data.zip")  # nobody writes to it: opening it to sniff a zip would block forever
    for path in (tmp_path / "data.zip", Path("/dev/null")):
        with pytest.raises(UserError, match="not a folder or a zip"):
            load_dataset(path, 16, show_progress=False)


# ------------------------------------------------------------------------------------------------
# Zips: read in memory, never extracted; hostile names shown safely; damage is a reason, not a crash
# ------------------------------------------------------------------------------------------------

def _central_directory(data: bytes) -> list[int]:
    return [i for i in range(len(data)) if data.startswith(b"PK\x01\x02", i)]


def test_hostile_zip_member_names_are_refused_and_nothing_is_written(tmp_path, monkeypatch):
    good = encode(solid((16, 16), (50, 60, 70)), "PNG")
    hostile = ["../escape.png", "a/../../escape2.png", "/etc/abs.png", "..\\win.png", "C:/drive.png", "C:\\drive2.png",
               "\\\\server\\share.png"]
    path = tmp_path / "evil.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("ok.png", good)
        z.writestr("new\nline\x1b[2J.png", good)  # odd but harmless: used, shown escaped
        for name in hostile:
            z.writestr(name, good)
        z.writestr("__MACOSX/._ok.png", b"\x00\x05\x16\x07")
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    before = sorted(p for p in tmp_path.parent.rglob("*"))
    ds = load_dataset(path, 16, show_progress=False)
    assert sorted(ds.names) == ["new\\nline\\x1b[2J.png", "ok.png"]
    assert sorted(n for n, _ in ds.skipped) == sorted(hostile)
    assert all("unsafe path" in why for _, why in ds.skipped)
    assert sorted(p for p in tmp_path.parent.rglob("*")) == before and not any(workdir.iterdir())
    assert not Path("/etc/abs.png").exists()


def test_damaged_zip_members_are_skipped(tmp_path):
    good = encode(solid((16, 16), (50, 60, 70)), "PNG")
    with zipfile.ZipFile(tmp_path / "ok.zip", "w", zipfile.ZIP_DEFLATED) as z:
        for name in ("a.png", "b.png", "c.png"):
            z.writestr(name, good)
    data = bytearray((tmp_path / "ok.zip").read_bytes())
    # b.png: an unknown compression method (99) in its local and central headers.
    local_b = data.index(b"PK\x03\x04", data.index(b"a.png"))
    central_b = _central_directory(bytes(data))[1]
    data[local_b + 8 : local_b + 10] = data[central_b + 10 : central_b + 12] = struct.pack("<H", 99)
    # c.png: garbage in the middle of its deflate stream.
    local_c = data.index(b"PK\x03\x04", local_b + 4)
    data[local_c + 30 + 5 : local_c + 30 + 25] = b"\xff" * 20
    (tmp_path / "damaged.zip").write_bytes(bytes(data))
    ds = load_dataset(tmp_path / "damaged.zip", 16, show_progress=False)
    assert ds.names == ["a.png"]
    assert [n for n, _ in ds.skipped] == ["b.png", "c.png"]
    assert all("cannot be read from the zip" in why or "not a" in why for _, why in ds.skipped), ds.skipped


def test_zip_needing_a_newer_zip_version_is_a_user_error(tmp_path):
    """Regression (found by test_fuzz): zipfile raised NotImplementedError from a bad version field."""
    with zipfile.ZipFile(tmp_path / "ok.zip", "w") as z:
        z.writestr("a.png", encode(solid((8, 8), (1, 2, 3)), "PNG"))
    data = bytearray((tmp_path / "ok.zip").read_bytes())
    central = _central_directory(bytes(data))[0]
    data[central + 6 : central + 8] = struct.pack("<H", 84)  # "version needed to extract": 8.4
    (tmp_path / "new.zip").write_bytes(bytes(data))
    with pytest.raises(UserError, match="cannot open the zip"):
        load_dataset(tmp_path / "new.zip", 16, show_progress=False)


def test_truncated_zip_is_a_user_error_or_loads_what_it_can(tmp_path):
    with zipfile.ZipFile(tmp_path / "ok.zip", "w") as z:
        for name in ("a.png", "b.png"):
            z.writestr(name, encode(solid((8, 8), (1, 2, 3)), "PNG"))
    data = (tmp_path / "ok.zip").read_bytes()
    (tmp_path / "cut.zip").write_bytes(data[: len(data) - 30])  # end-of-central-directory record cut
    with pytest.raises(UserError, match="not a folder or a zip|cannot open the zip"):
        load_dataset(tmp_path / "cut.zip", 16, show_progress=False)


# ------------------------------------------------------------------------------------------------
# Config: --set values and preset files, checked for type and range with the key named
# ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("item,needle", [
    ("lr_critic=nan", "lr_critic"), ("lr_generator=inf", "lr_generator"), ("gp_weight=inf", "gp_weight"),
    ("clip_value=-inf", "clip_value"), ("ema_decay=NaN", "ema_decay"), ("gp_weight=1e999", "gp_weight"),
    ("description=hello", "description"),  # regression: KeyError (a preset's note, not a config field)
])
def test_set_rejects_non_finite_numbers_and_non_fields(item, needle):
    with pytest.raises(UserError, match=needle):
        parse_set_items([item])


@pytest.mark.parametrize("text,needle", [
    ('steps = "ten"', "steps"), ("hflip = 1", "hflip"), ('lr_critic = "fast"', "lr_critic"), ("batch_size = 3.5", "batch_size"),
    ("loss = 7", "loss"), ("gp_weight = inf", "gp_weight"), ("lr_critic = nan", "lr_critic"), ("seed = -1", "seed"),
    ("resolution = [64]", "resolution"), ("[steps]\nx = 1", "steps"), ("device = 1979-05-27", "device"),
    ("x = " + "[" * 2000 + "]" * 2000, "nested too deeply"),  # regression: RecursionError inside tomllib
])
def test_preset_file_with_wrong_types_names_the_key(tmp_path, text, needle):
    path = tmp_path / "mine.toml"
    path.write_text(text + "\n")
    with pytest.raises(UserError, match=needle):
        build_config(str(path))


def test_huge_seed_does_not_overflow_the_data_order():
    """Regression: seed * 1_000_003 + epoch overflowed torch's 64-bit seed (ValueError from --set seed=2e13)."""
    for seed in (20_000_000_000_000, 2**63, 2**64 - 1):
        order = BatchOrder(10, seed=seed)
        assert sorted(order.next_indices(10).tolist()) == list(range(10))
    small = BatchOrder(10, seed=3)  # seeds that fitted before keep their exact order (resume stays bit-exact)
    expected = torch.randperm(10, generator=torch.Generator().manual_seed(3 * 1_000_003))
    assert torch.equal(small.next_indices(10), expected)


def test_preset_file_that_is_not_utf8_is_a_user_error(tmp_path):
    """Regression (found by test_fuzz): UnicodeDecodeError escaped load_preset."""
    path = tmp_path / "latin1.toml"
    path.write_bytes('description = "Nymphéas"\n'.encode("latin-1"))
    with pytest.raises(UserError, match="latin1.toml.*UTF-8"):
        load_preset(str(path))


# ------------------------------------------------------------------------------------------------
# The command line on bad folders: one summary line, skipped.txt, or one error line
# ------------------------------------------------------------------------------------------------

def test_train_on_a_mixed_folder_prints_one_summary_and_writes_skipped_txt(tmp_path):
    data = tmp_path / "data"
    write_paintings(data, count=5)
    (data / "truncated.jpg").write_bytes(valid_jpeg()[:200])
    (data / "notes.jpg").write_text("a text file named .jpg")
    (data / "bomb.png").write_bytes(png(100_000, 100_000))
    with open(os.path.join(os.fsencode(data), b"caf\xe9.png"), "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\nbroken")
    (data / "two\nlines.jpg").write_bytes(b"")
    run = tmp_path / "run"
    result = run_cli("train", "--data", data, "--run", run, "--preset", "quick", "--steps", 1, "--set", *TINY_SET)
    assert result.returncode == 0, result.stderr
    output = result.stdout + result.stderr
    assert "Traceback" not in output, output
    summary = [line for line in visible_lines(output) if "skipped" in line]
    assert len(summary) == 1 and "skipped 5 of 10" in summary[0] and str(run / "skipped.txt") in summary[0], output
    assert "truncated.jpg" not in output and "bomb.png" not in output  # the list is in the file, not on screen
    lines = (run / "skipped.txt").read_text(encoding="utf-8").splitlines()
    assert sorted(line.split("\t")[0] for line in lines) == sorted(
        ["truncated.jpg", "notes.jpg", "bomb.png", "caf\\xe9.png", "two\\nlines.jpg"])
    assert all(len(line.split("\t")) == 2 and line.split("\t")[1] for line in lines)


def test_train_on_an_all_bad_folder_is_one_line(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "notes.jpg").write_text("not an image")
    (data / "empty.png").write_bytes(b"")
    (data / "bomb.png").write_bytes(png(100_000, 100_000))
    assert_one_line_error(run_cli("train", "--data", data, "--run", tmp_path / "run", "--preset", "quick", "--quiet",
                                  "--steps", 1, "--set", *TINY_SET), "--data", "none of the 3 image files")
    assert not (tmp_path / "run" / "config.json").exists()


def test_train_with_too_few_usable_images_is_one_line(tmp_path):
    data = tmp_path / "data"
    write_paintings(data, count=3)
    (data / "notes.jpg").write_text("not an image")
    result = run_cli("train", "--data", data, "--run", tmp_path / "run", "--preset", "quick", "--steps", 1, "--quiet",
                     "--set", *TINY_SET, "min_images=5")
    assert_one_line_error(result, "only 3 usable images", "min_images=5")
    assert (tmp_path / "run" / "skipped.txt").read_text().startswith("notes.jpg\t")


@pytest.mark.parametrize("args,needle", [(("--set", "lr_critic=nan"), "lr_critic"), (("--preset", "PRESET"), "steps")])
def test_cli_refuses_bad_config_in_one_line(tmp_path, paintings, args, needle):
    preset = tmp_path / "mine.toml"
    preset.write_text('loss = "wgan-gp"\nsteps = "many"\n')
    args = tuple(str(preset) if a == "PRESET" else a for a in args)
    assert_one_line_error(run_cli("train", "--data", paintings, "--run", tmp_path / "run", "--dry-run", "--quiet", *args),
                          needle)
