"""Per-device helpers."""

import torch

from monetgan.devices import host_to_device


def test_host_to_device_copies_values():
    x = torch.randn(5, 3)
    y = host_to_device(x, torch.device("cpu"))
    assert torch.equal(x, y)
    if torch.cuda.is_available():  # the pinned, non-blocking path
        z = host_to_device(x, torch.device("cuda"))
        assert z.is_cuda and torch.equal(z.cpu(), x)
