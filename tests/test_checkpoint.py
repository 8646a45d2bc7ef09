import errno
import json
import pickle

import pytest
import torch
from safetensors import SafetensorError

import monetgan.training.checkpoint as checkpoint_module
from monetgan.training.checkpoint import (
    FORMAT_VERSION,
    flatten_optimizer_state,
    latest_checkpoint,
    list_checkpoints,
    load_checkpoint,
    remove_partial_checkpoints,
    save_checkpoint,
    unflatten_optimizer_state,
)
from monetgan.config import TrainConfig, check_resume_overrides
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
    with pytest.raises(AttributeError):  # a bug, not a user error: it keeps its traceback
        save_checkpoint(tmp_path, 2, broken, {}, {})
    assert list_checkpoints(tmp_path) == [good]
    assert load_checkpoint(good).step == 1
    assert [p.name for p in (tmp_path / "checkpoints").iterdir()] == ["step-000001"]


def test_retention_keeps_newest(tmp_path):
    for step in range(1, 6):
        save_checkpoint(tmp_path, step, tiny_payload(), {}, {}, keep=2)
    assert [p.name for p in list_checkpoints(tmp_path)] == ["step-000004", "step-000005"]


# ----------------------------------------------------------------------------------------------
# Retention: the newest K plus the best by a metric from metrics.jsonl
# ----------------------------------------------------------------------------------------------

def steps_on_disk(run):
    return [int(p.name[len("step-"):]) for p in list_checkpoints(run)]


def write_metrics(run, *lines):
    (run / "metrics.jsonl").write_text("".join((line if isinstance(line, str) else json.dumps(line)) + "\n"
                                               for line in lines))


def test_retention_keeps_the_best_by_fid_besides_the_newest(tmp_path):
    best_fid = {"keep_best": "fid"}
    for step in (1, 2):
        save_checkpoint(tmp_path, step, tiny_payload(), {}, best_fid, keep=2)
    # As `evaluate --checkpoint all` writes it; kid says step 2 is best, but fid was chosen.
    write_metrics(tmp_path, {"step": 1, "fid": 10.0, "kid": 0.5, "swd": 3.0},
                  {"step": 2, "fid": 50.0, "kid": 0.1, "swd": 1.0})
    save_checkpoint(tmp_path, 3, tiny_payload(), {}, best_fid, keep=2)
    assert steps_on_disk(tmp_path) == [1, 2, 3]  # newest two, plus step 1, the best fid
    save_checkpoint(tmp_path, 4, tiny_payload(), {}, best_fid, keep=2)
    assert steps_on_disk(tmp_path) == [1, 3, 4]
    write_metrics(tmp_path, {"step": 1, "fid": 10.0}, {"step": 3, "fid": 30.0}, {"step": 4, "fid": 5.0})
    save_checkpoint(tmp_path, 5, tiny_payload(), {}, best_fid, keep=2)
    assert steps_on_disk(tmp_path) == [4, 5]  # step 4 is both among the newest and the best
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["step-000004", "step-000005"]
    # The same run without keep_best: only the newest two.
    plain = tmp_path / "plain"
    for step in (1, 2, 3):
        save_checkpoint(plain, step, tiny_payload(), {}, {}, keep=2)
        write_metrics(plain, {"step": 1, "fid": 1.0})
    assert steps_on_disk(plain) == [2, 3]


def test_metrics_naming_deleted_or_unknown_steps_are_harmless(tmp_path):
    for step in (1, 2, 3):
        save_checkpoint(tmp_path, step, tiny_payload(), {}, {"keep_best": "kid"}, keep=2)
    assert steps_on_disk(tmp_path) == [2, 3]
    # Step 1 (deleted) and step 99 (never saved) score best: the best *surviving* one is kept.
    write_metrics(tmp_path, {"step": 1, "kid": 0.01}, {"step": 99, "kid": 0.0}, {"step": 2, "kid": 0.2},
                  {"step": 3, "kid": 0.3})
    save_checkpoint(tmp_path, 4, tiny_payload(), {}, {"keep_best": "kid"}, keep=2)
    assert steps_on_disk(tmp_path) == [2, 3, 4]


def test_keep_zero_keeps_every_checkpoint(tmp_path):
    write_metrics(tmp_path, {"step": 1, "fid": 1.0})
    for step in range(1, 6):
        save_checkpoint(tmp_path, step, tiny_payload(), {}, {"keep_best": "fid"}, keep=0)
    assert steps_on_disk(tmp_path) == [1, 2, 3, 4, 5]


@pytest.mark.parametrize("bad_lines", [
    ["not json", '{"step": 2, "fid": ', "[2, 0.1]", '{"step": "2", "fid": 0.1}', '{"step": 2, "fid": NaN}',
     '{"step": 2, "fid": null}', '{"step": 2, "fid": "0.1"}', '{"step": true, "fid": 0.1}', '{"fid": 0.1}',
     '{"step": 2.0, "fid": 0.1}', '{"step": 2, "fid": -1' + "0" * 400 + "}", "[" * 100_000],
    ["\udcff\udcfe undecodable bytes", '{"step": 2, "fid": 0.1, "note": "\udcff"}'],
])
def test_corrupt_metrics_lines_are_ignored(tmp_path, bad_lines):
    for step in (1, 2, 3):
        save_checkpoint(tmp_path, step, tiny_payload(), {}, {}, keep=0)
    # Each bad line claims (or could be read as claiming) that step 2 is best; only step 1's valid line counts.
    metrics = [{"step": 1, "fid": 7.0}, *bad_lines, {"step": 3, "fid": 9.0}]
    text = "".join((m if isinstance(m, str) else json.dumps(m)) + "\n" for m in metrics)
    (tmp_path / "metrics.jsonl").write_bytes(text.encode("utf-8", "surrogateescape"))
    save_checkpoint(tmp_path, 4, tiny_payload(), {}, {"keep_best": "fid"}, keep=2)
    assert steps_on_disk(tmp_path) == [1, 3, 4]


def test_retention_never_deletes_the_new_checkpoint_nor_folders_it_does_not_own(tmp_path):
    for step in range(1, 6):
        save_checkpoint(tmp_path, step, tiny_payload(), {}, {}, keep=0)
    root = tmp_path / "checkpoints"
    damaged = root / "step-000009"  # damaged by hand: not a good checkpoint, so neither counted nor deleted
    damaged.mkdir()
    (damaged / "state.json").write_text("{}")
    partial = root / ".tmp-step-000008-123"  # a killed save's leftovers: cleaned at start, not by retention
    partial.mkdir()
    # Re-saving step 3 (after a rollback) with keep=1: step 5 is the newest good one, step 3 was just written.
    save_checkpoint(tmp_path, 3, tiny_payload(), {}, {}, keep=1)
    assert steps_on_disk(tmp_path) == [3, 5, 9]
    assert partial.is_dir()
    assert load_checkpoint(root / "step-000003").step == 3


def test_a_kill_while_pruning_leaves_no_half_deleted_checkpoint(tmp_path, monkeypatch):
    for step in (1, 2):
        save_checkpoint(tmp_path, step, tiny_payload(), {}, {}, keep=0)
    real_rmtree = checkpoint_module.shutil.rmtree

    def killed_halfway(path, *args, **kwargs):
        if "deleted" in str(path):
            (path / "critic.safetensors").unlink()  # half of the folder is gone ...
            raise KeyboardInterrupt  # ... when the kill arrives
        return real_rmtree(path, *args, **kwargs)

    monkeypatch.setattr(checkpoint_module.shutil, "rmtree", killed_halfway)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(tmp_path, 3, tiny_payload(), {}, {}, keep=1)
    monkeypatch.undo()
    assert steps_on_disk(tmp_path) == [2, 3]  # step 1 was renamed away before being deleted
    assert all(load_checkpoint(p) for p in list_checkpoints(tmp_path))
    remove_partial_checkpoints(tmp_path)
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["step-000002", "step-000003"]


def test_keep_best_is_validated_and_may_change_on_resume():
    with pytest.raises(UserError, match="keep_best.*fid, kid, mifid, swd"):
        TrainConfig(keep_best="lpips")
    saved = TrainConfig(keep_checkpoints=3)
    assert check_resume_overrides(saved, {"keep_best": "swd"}, None).keep_best == "swd"


# ----------------------------------------------------------------------------------------------
# A full disk (or another OS error) during a save
# ----------------------------------------------------------------------------------------------

def file_bytes(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def enospc(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def fail_on_call(real, n, error):
    """`real`, except that call number `n` (1-based) raises `error` instead."""
    calls = []

    def wrapper(*args, **kwargs):
        calls.append(1)
        if len(calls) == n:
            raise error
        return real(*args, **kwargs)

    return wrapper


INJECTIONS = {
    # safetensors writes the first file, then the disk fills on the second (as Python's OSError) ...
    "second tensor file": ("save_file", lambda: fail_on_call(checkpoint_module.save_file, 2,
                                                             OSError(errno.ENOSPC, "No space left on device"))),
    # ... or as safetensors really reports it: its own error type, the OS error in the text
    "safetensors I/O error": ("save_file", lambda: fail_on_call(checkpoint_module.save_file, 3, SafetensorError(
        "Error while serializing: I/O error: No space left on device (os error 28)"))),
    "json": ("_write_json", lambda: fail_on_call(checkpoint_module._write_json, 2,
                                                 OSError(errno.ENOSPC, "No space left on device"))),
    "fsync": ("_fsync_file", lambda: fail_on_call(checkpoint_module._fsync_file, 4,
                                                  OSError(errno.ENOSPC, "No space left on device"))),
}


@pytest.mark.parametrize("where", sorted(INJECTIONS))
def test_disk_full_during_save_keeps_the_previous_checkpoint_and_training_resumes(tmp_path, monkeypatch, where):
    good = save_checkpoint(tmp_path, 1, tiny_payload(), {"hello": 1}, {"loss": "wgan"}, keep=1)
    before = file_bytes(good)
    name, make = INJECTIONS[where]
    monkeypatch.setattr(checkpoint_module, name, make())
    with pytest.raises(UserError) as caught:
        save_checkpoint(tmp_path, 2, tiny_payload(), {"hello": 2}, {"loss": "wgan"}, keep=1)
    message = str(caught.value)
    assert "\n" not in message
    for needle in (str(tmp_path), "disk is full", "step-000002", "previous checkpoint step-000001 is intact",
                   "free space", "rerun the same command"):
        assert needle in message
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    # The previous checkpoint is byte-identical and loads; the temporary folder is gone.
    assert [p.name for p in (tmp_path / "checkpoints").iterdir()] == ["step-000001"]
    assert file_bytes(good) == before and load_checkpoint(good).state["hello"] == 1
    # Space is freed: the same save now succeeds, and resuming finds it.
    monkeypatch.undo()
    again = save_checkpoint(tmp_path, 2, tiny_payload(), {"hello": 2}, {"loss": "wgan"}, keep=1)
    assert latest_checkpoint(tmp_path) == again and load_checkpoint(again).state["hello"] == 2
    assert list_checkpoints(tmp_path) == [again]  # and only then is step 1 pruned


def test_disk_full_on_the_first_save_says_there_is_nothing_earlier(tmp_path, monkeypatch):
    monkeypatch.setattr(checkpoint_module, "save_file", enospc)
    with pytest.raises(UserError, match="disk is full.*no earlier checkpoint exists.*free space"):
        save_checkpoint(tmp_path, 1, tiny_payload(), {}, {})
    assert list((tmp_path / "checkpoints").iterdir()) == []


def test_failed_rename_when_re_saving_a_step_puts_the_old_one_back(tmp_path, monkeypatch):
    save_checkpoint(tmp_path, 1, tiny_payload(), {}, {})
    step2 = save_checkpoint(tmp_path, 2, tiny_payload(), {"version": "old"}, {})
    before = file_bytes(step2)
    real_replace = checkpoint_module.os.replace

    def replace(src, dst):
        if str(src).rsplit("/", 1)[-1].startswith(".tmp-step-"):  # the new folder's rename into place
            raise PermissionError(errno.EACCES, "Permission denied", str(dst))
        return real_replace(src, dst)

    monkeypatch.setattr(checkpoint_module.os, "replace", replace)
    with pytest.raises(UserError) as caught:
        save_checkpoint(tmp_path, 2, tiny_payload(), {"version": "new"}, {})
    monkeypatch.undo()
    message = str(caught.value)
    assert "Permission denied" in message and "disk is full" not in message
    assert "previous checkpoint step-000002 is intact" in message and "rerun the same command" in message
    assert file_bytes(step2) == before and load_checkpoint(step2).state["version"] == "old"
    assert [p.name for p in sorted((tmp_path / "checkpoints").iterdir())] == ["step-000001", "step-000002"]


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


def evil_pickle(marker):
    """Bytes that, when unpickled, create `marker` (open(marker, "w") runs during pickle.loads)."""

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    return pickle.dumps(Payload())


def test_the_evil_pickle_is_live(tmp_path):
    """Control for the tests below: unpickling this payload really does create the marker."""
    pickle.loads(evil_pickle(tmp_path / "control")).close()
    assert (tmp_path / "control").exists()


@pytest.mark.parametrize("plant", ["extra .pt beside", "instead of generator", "disguised as safetensors"])
def test_pickles_inside_a_checkpoint_folder_are_never_unpickled(tmp_path, plant):
    path = save_checkpoint(tmp_path, 1, tiny_payload(), {}, {})
    marker = tmp_path / "pwned"
    if plant == "extra .pt beside":
        for name in ("generator.pt", "model.pkl", "optimizers.bin"):
            (path / name).write_bytes(evil_pickle(marker))
        ckpt = load_checkpoint(path)
        assert sorted(ckpt.tensors) == ["critic", "generator", "optimizers", "rng"]  # the pickles were not read
    elif plant == "instead of generator":
        (path / "generator.safetensors").unlink()
        (path / "generator.pt").write_bytes(evil_pickle(marker))
        with pytest.raises(UserError, match="incomplete.*generator.safetensors"):
            load_checkpoint(path)
    else:
        (path / "generator.safetensors").write_bytes(evil_pickle(marker))
        with pytest.raises(UserError, match="damaged"):
            load_checkpoint(path)
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
