"""Per-device settings: the CPU allocator setting must actually stop fresh pages on every step."""

import subprocess
import sys

import pytest
import torch

from monetgan.devices import host_to_device

# Allocates and fills a 64 MB tensor twelve times, as a 256 px step reallocates its activations, and
# prints the page faults of the last six rounds (each fresh mapping faults in 16k pages; the first
# rounds also fault while the heap grows).
_FAULTS = """
import resource, sys, torch
from monetgan.devices import keep_freed_memory
applied = keep_freed_memory() if sys.argv[1] == "on" else False
faults = []
for _ in range(12):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    x = torch.empty(16 * 2**20).fill_(1.0)
    del x
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(applied, sum(faults[6:]))
"""


def _faults(mode: str, env: dict[str, str]) -> tuple[bool, int]:
    out = subprocess.run([sys.executable, "-c", _FAULTS, mode], capture_output=True, text=True, env=env, check=True)
    applied, faults = out.stdout.split()
    return applied == "True", int(faults)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc malloc setting; Linux only")
def test_keep_freed_memory_reuses_large_blocks(monkeypatch):
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k != "GLIBC_TUNABLES"}
    env.pop("MONETGAN_KEEP_FREED_MEMORY", None)
    _, control = _faults("off", env)
    applied, tuned = _faults("on", env)
    assert control > 6 * 10_000  # glibc's default: a fresh mmap (16k zeroed pages) every round
    assert applied and tuned < 1_000  # the freed block is reused: no new pages
    # A user's own malloc tuning, or the opt-out, wins.
    assert _faults("on", {**env, "MONETGAN_KEEP_FREED_MEMORY": "0"})[0] is False
    assert _faults("on", {**env, "MALLOC_ARENA_MAX": "2"})[0] is False


def test_host_to_device_copies_values():
    x = torch.randn(5, 3)
    y = host_to_device(x, torch.device("cpu"))
    assert torch.equal(x, y)
    if torch.cuda.is_available():  # the pinned, non-blocking path
        z = host_to_device(x, torch.device("cuda"))
        assert z.is_cuda and torch.equal(z.cpu(), x)
