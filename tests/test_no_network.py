"""Training and painting never touch the network: sockets are patched to fail, and every attempt is recorded
(so one that a library catches and quietly works around still fails the test)."""

from __future__ import annotations

import socket

import pytest
from conftest import TINY, write_paintings

import monetgan
from monetgan.data.dataset import load_dataset


@pytest.fixture
def no_network(monkeypatch):
    attempts: list[str] = []

    def refuse(name):
        def blocked(*args, **kwargs):
            attempts.append(f"{name}{args!r}")
            raise OSError(f"network access attempted in an offline test: socket.{name}")
        return blocked

    for name in ("socket", "create_connection", "getaddrinfo"):
        monkeypatch.setattr(socket, name, refuse(name))
    with pytest.raises(OSError, match="offline"):  # the guard itself works
        socket.create_connection(("example.com", 443))
    attempts.clear()
    return attempts


def test_load_train_and_paint_offline(tmp_path, no_network):
    data = tmp_path / "data"
    write_paintings(data, count=6)
    assert len(load_dataset(data, 32, show_progress=False)) == 6

    run = tmp_path / "run"
    result = monetgan.train(data, run, preset="quick", steps=1, show_progress=False, **TINY)
    assert result.step == 1 and result.checkpoint is not None and (run / "config.json").exists()

    paths = monetgan.paint(run, num=2, out=tmp_path / "paintings")
    assert len(paths) == 2 and all(p.stat().st_size > 0 for p in paths)
    assert no_network == []
