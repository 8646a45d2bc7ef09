"""Fuzzing with Hypothesis: everything that parses user input either works or says why, never crashes.

Properties: image bytes (random, or valid PNG/JPEG/WebP with bits flipped, bytes overwritten, cut
short) decode to an (R, R, 3) uint8 array or raise `UnusableImage`; a folder or zip of such files
loads or raises `UserError`; `--set` items and preset TOML files give valid values or `UserError`.
Any other exception, or an example slower than the deadline, fails the test.

CI runs MONETGAN_FUZZ_EXAMPLES=200 examples per test (15-25 s in all on two cores). A longer
hunt, about six minutes on two shared cores (time grows linearly; 20000 is about twenty minutes):

    MONETGAN_FUZZ_EXAMPLES=6000 OMP_NUM_THREADS=1 python -m pytest -q -W error tests/test_fuzz.py

A crash is printed shrunk to a minimal input; make it a plain test in test_bad_inputs.py and fix the code.
"""

from __future__ import annotations

import faulthandler
import io
import math
import os
import tempfile
import typing
import zipfile
from datetime import timedelta
from functools import cache
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from monetgan.config import TrainConfig, build_config, load_preset, parse_set_items
from monetgan.data.dataset import load_dataset
from monetgan.errors import UserError
from monetgan.data.images import UnusableImage, decode_square

# As under `python -W error`: a warning escaping the loader fails a test just like an exception.
pytestmark = pytest.mark.filterwarnings("error")

EXAMPLES = int(os.environ.get("MONETGAN_FUZZ_EXAMPLES", "200"))
# One example decodes a few small images; seconds mean something is wrong (or the machine is swamped).
FUZZ = settings(max_examples=EXAMPLES, deadline=timedelta(seconds=10),
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large], print_blob=True)
HANG_SECONDS = 120  # one example running this long is a hang: dump every thread's stack and exit


@pytest.fixture(autouse=True)
def _hang_watchdog():
    """A decoder stuck in C cannot be interrupted by a deadline; faulthandler can at least end the run loudly."""
    yield
    faulthandler.cancel_dump_traceback_later()


def _arm_watchdog() -> None:
    faulthandler.dump_traceback_later(HANG_SECONDS, exit=True)  # re-arming cancels the previous timer


# ------------------------------------------------------------------------------------------------
# Seeds: small valid files of every kind the loader meets, made once with Pillow.
# ------------------------------------------------------------------------------------------------

def _encode(img: Image.Image, fmt: str, **options) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **options)
    return buf.getvalue()


@cache
def seed_files() -> tuple[bytes, ...]:
    rng = np.random.default_rng(0)
    rgb = Image.fromarray(rng.integers(0, 256, (12, 20, 3), dtype=np.uint8))
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90
    palette = rgb.convert("P", palette=Image.Palette.ADAPTIVE, colors=8)
    return (
        _encode(rgb, "PNG"),
        _encode(rgb.convert("RGBA"), "PNG"),
        _encode(palette, "PNG", transparency=0),
        _encode(Image.fromarray(rng.integers(0, 65536, (10, 10), dtype=np.uint16)), "PNG"),
        _encode(rgb.convert("L"), "PNG"),
        _encode(rgb, "JPEG", quality=80),
        _encode(rgb, "JPEG", quality=80, progressive=True),
        _encode(rgb, "JPEG", exif=exif.tobytes()),
        _encode(rgb.convert("CMYK"), "JPEG"),
        _encode(rgb.convert("L"), "JPEG"),
        _encode(rgb, "WEBP", quality=80),
        _encode(rgb, "WEBP", lossless=True),
    )


MAGICS = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", b"RIFF\x00\x00\x00\x00WEBPVP8 ",
          b"RIFF\x00\x00\x00\x00WEBPVP8L", b"PK\x03\x04", b"GIF89a", b"%!PS-Adobe-3.0 EPSF-3.0", b"II*\x00", b"BM")


@st.composite
def mutated(draw, seeds=seed_files) -> bytes:
    """A valid seed file with a few bit flips, overwritten, inserted or deleted bytes, or cut short."""
    data = bytearray(draw(st.sampled_from(seeds())))
    for _ in range(draw(st.integers(1, 6))):
        if not data:
            break
        kind = draw(st.sampled_from(("flip", "byte", "insert", "delete", "truncate", "span")))
        i = draw(st.integers(0, len(data) - 1))
        if kind == "flip":
            data[i] ^= 1 << draw(st.integers(0, 7))
        elif kind == "byte":
            data[i] = draw(st.sampled_from((0x00, 0xFF, 0x7F, 0x80, draw(st.integers(0, 255)))))
        elif kind == "insert":
            data[i:i] = draw(st.binary(min_size=1, max_size=16))
        elif kind == "delete":
            del data[i : i + draw(st.integers(1, 16))]
        elif kind == "truncate":
            del data[i:]
        else:
            chunk = draw(st.binary(min_size=1, max_size=64))
            data[i : i + len(chunk)] = chunk
    return bytes(data)


image_bytes = st.one_of(
    st.binary(max_size=2048),
    st.builds(lambda magic, tail: magic + tail, st.sampled_from(MAGICS), st.binary(max_size=2048)),
    mutated(),
)


def assert_decodes_or_refuses(data: bytes, resolution: int) -> None:
    _arm_watchdog()
    try:
        out = decode_square(data, resolution)
    except UnusableImage as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    assert isinstance(out, np.ndarray) and out.shape == (resolution, resolution, 3) and out.dtype == np.uint8


# ------------------------------------------------------------------------------------------------
# (a) images
# ------------------------------------------------------------------------------------------------

def test_seed_files_are_valid():
    """The mutation seeds themselves decode, so mutations start from real, deep-reaching input."""
    for data in seed_files():
        assert decode_square(data, 32).shape == (32, 32, 3)


@FUZZ
@given(data=image_bytes, resolution=st.sampled_from((32, 64)))
def test_decode_square_returns_an_image_or_refuses(data, resolution):
    assert_decodes_or_refuses(data, resolution)


@FUZZ
@given(files=st.lists(image_bytes, min_size=1, max_size=4), as_zip=st.booleans())
def test_loader_loads_or_refuses(files, as_zip):
    _arm_watchdog()
    with tempfile.TemporaryDirectory() as tmp:
        names = [f"f{i}.{'png' if i % 2 else 'jpg'}" for i in range(len(files))]
        if as_zip:
            source = Path(tmp) / "data.zip"
            with zipfile.ZipFile(source, "w", zipfile.ZIP_DEFLATED) as archive:
                for name, data in zip(names, files):
                    archive.writestr(name, data)
        else:
            source = Path(tmp)
            for name, data in zip(names, files):
                (source / name).write_bytes(data)
        try:
            ds = load_dataset(source, 32, show_progress=False)
        except UserError as exc:
            assert "\n" not in str(exc)
            return
        assert len(ds) == len(ds.names) == ds.images.shape[0] >= 1
        assert sorted(ds.names + [n for n, _ in ds.skipped]) == sorted(names)


@cache
def _valid_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
        for i, data in enumerate(seed_files()[:4]):
            archive.writestr(f"monet_jpg/m{i}.png", data)
        archive.writestr("notes.txt", "not an image")
    return buf.getvalue()


@FUZZ
@given(data=mutated(seeds=lambda: (_valid_zip(),)))
def test_corrupt_zip_loads_or_refuses(data):
    """Mutated zip containers: central directory, local headers and deflate streams all get damaged."""
    _arm_watchdog()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "data.zip"
        path.write_bytes(data)
        try:
            ds = load_dataset(path, 32, show_progress=False)
        except UserError as exc:
            assert "\n" not in str(exc)
            return
        assert ds.images.shape[1:] == (3, 32, 32) and len(ds) == len(ds.names) >= 1
        assert not any(Path(tmp, name).exists() for name in ds.names)  # read in memory, never extracted


# ------------------------------------------------------------------------------------------------
# (b) configuration: --set items and preset TOML files
# ------------------------------------------------------------------------------------------------

FIELD_TYPES = typing.get_type_hints(TrainConfig)
FIELDS = sorted(FIELD_TYPES)


def assert_valid_values(values: dict) -> None:
    """Each value has its field's declared type (bool is not an int; floats are finite)."""
    for key, value in values.items():
        assert key in FIELD_TYPES, key
        allowed = typing.get_args(FIELD_TYPES[key]) or (FIELD_TYPES[key],)
        if value is None:
            assert type(None) in allowed, (key, value)
        elif isinstance(value, bool):
            assert bool in allowed, (key, value)
        elif isinstance(value, float):
            assert float in allowed and math.isfinite(value), (key, value)
        else:
            assert type(value) in allowed or (type(value) is int and float in allowed), (key, value)


def assert_config_or_user_error(preset: str, overrides: dict) -> None:
    try:
        cfg = build_config(preset, overrides)
    except UserError as exc:
        assert "\n" not in str(exc)
        return
    assert isinstance(cfg, TrainConfig)


keys = st.one_of(st.sampled_from(FIELDS + ["description", "preset"]), st.sampled_from(FIELDS).map(
    lambda k: k.replace("_", "-")), st.text(max_size=12))
raw_values = st.one_of(
    st.text(max_size=20),
    st.sampled_from(("nan", "NaN", "inf", "-inf", "+inf", "Infinity", "1e999", "-1e999", "1e-999", "0", "-0", "1_0",
                     "0x10", "1.", ".5", "true", "off", "none", "auto", "null", "", " ", "\x00", "١٢", "9" * 5000)),
    st.integers(-10**20, 10**20).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
)
set_items = st.builds(lambda k, sep, v: f"{k}{sep}{v}", keys, st.sampled_from(("=", " = ", "", "==")), raw_values)


@FUZZ
@given(items=st.lists(st.one_of(set_items, st.text(max_size=30)), max_size=4))
def test_set_items_parse_to_valid_values_or_user_error(items):
    try:
        values = parse_set_items(items)
    except UserError as exc:
        assert "\n" not in str(exc)
        return
    assert_valid_values(values)
    assert_config_or_user_error("quick", values)


toml_values = st.one_of(
    st.integers(-10**30, 10**30).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(lambda f: repr(f) if math.isfinite(f) else
                                                       {"nan": "nan", "inf": "inf", "-inf": "-inf"}[repr(f)]),
    st.sampled_from(("true", "false", "nan", "+inf", "-inf", '""', '"wgan"', '"wgan-gp"', '"cuda:0"', "[]", "[1, 2]",
                     "{}", "{ a = 1 }", "1979-05-27", "07:32:00", "1979-05-27T07:32:00Z", "0x1f", "1_000",
                     "[" * 600 + "]" * 600)),
    st.text(max_size=20).map(lambda s: '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'),
)
toml_lines = st.builds(lambda k, v: f"{k} = {v}", st.one_of(st.sampled_from(FIELDS + ["description"]),
                                                            st.text(max_size=8)), toml_values)
toml_text = st.one_of(st.lists(toml_lines, max_size=6).map("\n".join), st.text(max_size=200))


@FUZZ
@given(text=st.one_of(toml_text.map(lambda t: t.encode("utf-8", "surrogatepass")), st.binary(max_size=200)))
def test_preset_files_give_valid_values_or_user_error(text):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "mine.toml"
        path.write_bytes(text)
        try:
            values = load_preset(str(path))
        except UserError as exc:
            assert "\n" not in str(exc)
            return
        assert set(values) <= set(FIELD_TYPES)
        assert all(math.isfinite(v) for v in values.values() if isinstance(v, float))
        assert_config_or_user_error(str(path), {})
