import json
import pickle

import pytest
import torch

from monetgan.checkpoint import (FORMAT_VERSION, flatten_optimizer_state, latest_checkpoint, list_checkpoints,
                                 load_checkpoint, remove_partial_checkpoints, save_checkpoint,
                                 unflatten_optimizer_state)
from monetgan.errors import UserError


def tiny_payload():
    return {"generator": {"w": torch.ones(2)}, "critic": {"w": torch.zeros(2)}, "optimizers": {"x": torch.ones(1)},
            "rng": {"train": torch.zeros(3, dtype=torch.uint8)}}


def test_save_and_load_round_trip(tmp_path):
    path = save_checkpoint(tmp_path, 12, tiny_payload(), {"hello": 1}, {"loss": "wgan"})
    assert path.name == "step-000012"
    ckpt = load_checkpoint(path)
    assert ckpt.step == 12 and ckpt.state["hello"] == 1 and ckpt.config == {"loss": "wgan"}
    assert torch.equal(ckpt.tensors["generator"]["w"], torch.ones(2))
    assert ckpt.state["format_version"] == FORMAT_VERSION


def test_partial_save_is_invisible_and_cleaned(tmp_path):
    save_checkpoint(tmp_path, 1, tiny_payload(), {}, {})
    partial = tmp_path / "checkpoints" / ".tmp-step-000002-999"
    partial.mkdir()
    (partial / "generator.safetensors").write_bytes(b"half")
    assert latest_checkpoint(tmp_path).name == "step-000001"
    remove_partial_checkpoints(tmp_path)
    assert not partial.exists()


def test_failed_save_leaves_previous_checkpoint_intact(tmp_path):
    good = save_checkpoint(tmp_path, 1, tiny_payload(), {}, {})
    broken = tiny_payload()
    broken["generator"]["bad"] = "not a tensor"  # save_file raises part-way through
    with pytest.raises(Exception):
        save_checkpoint(tmp_path, 2, broken, {}, {})
    assert list_checkpoints(tmp_path) == [good]
    assert load_checkpoint(good).step == 1
    assert [p.name for p in (tmp_path / "checkpoints").iterdir()] == ["step-000001"]


def test_retention_keeps_newest(tmp_path):
    for step in range(1, 6):
        save_checkpoint(tmp_path, step, tiny_payload(), {}, {}, keep=2)
    assert [p.name for p in list_checkpoints(tmp_path)] == ["step-000004", "step-000005"]


def test_pickle_is_refused_without_being_loaded(tmp_path):
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    evil = tmp_path / "model.pt"
    evil.write_bytes(pickle.dumps(Payload()))
    with pytest.raises(UserError, match="pickle"):
        load_checkpoint(evil)
    assert not marker.exists()


def test_wrong_format_version_is_refused(tmp_path):
    path = save_checkpoint(tmp_path, 1, tiny_payload(), {}, {})
    state = json.loads((path / "state.json").read_text())
    state["format_version"] = 999
    (path / "state.json").write_text(json.dumps(state))
    with pytest.raises(UserError, match="format version 999"):
        load_checkpoint(path)


def test_damaged_tensor_file_is_a_user_error(tmp_path):
    path = save_checkpoint(tmp_path, 1, tiny_payload(), {}, {})
    (path / "critic.safetensors").write_bytes(b"garbage")
    with pytest.raises(UserError, match="damaged"):
        load_checkpoint(path)


def test_optimizer_state_round_trip():
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.0, 0.9))
    model(torch.randn(4, 3)).sum().backward()
    opt.step()
    tensors, meta = flatten_optimizer_state("g", opt.state_dict())
    meta = json.loads(json.dumps(meta))  # must survive JSON
    restored = unflatten_optimizer_state("g", tensors, meta)
    fresh = torch.optim.Adam(model.parameters(), lr=5.0)
    fresh.load_state_dict(restored)
    for a, b in zip(opt.state.values(), fresh.state.values()):
        assert all(torch.equal(a[k], b[k]) for k in a)
    assert fresh.param_groups[0]["lr"] == 1e-3
