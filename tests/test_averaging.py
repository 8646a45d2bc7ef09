"""`monetgan average`: the mean of a run's raw generators as a painter chosen after training."""

import json
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

import monetgan
from monetgan.errors import UserError
from monetgan.painting.averaging import average_snapshots, mean_state_dict
from monetgan.painting.bundled import bundle, load_bundled


def _checkpoints(tiny_run):
    return sorted((tiny_run[0] / "checkpoints").iterdir())  # steps 2 and 3


def test_the_average_holds_the_mean_of_the_raw_weights_with_its_own_batchnorm_statistics(tiny_run, tmp_path):
    a, b = _checkpoints(tiny_run)
    out = average_snapshots([a, b], tmp_path / "avg")
    ga, gb = load_file(str(a / "generator.safetensors")), load_file(str(b / "generator.safetensors"))
    mean = load_file(str(out / "generator_ema.safetensors"))
    params = [k for k in ga if not any(s in k for s in ("running_", "num_batches"))]
    assert any(not torch.equal(ga[k], gb[k]) for k in params)  # the two snapshots differ
    for k in params:
        torch.testing.assert_close(mean[k], (ga[k] + gb[k]) / 2, rtol=0, atol=1e-6)
    running = [k for k in mean if k.endswith("running_mean")]
    assert running, "the tiny generator has BatchNorm"
    # Standing statistics of the mean, not a copy of either snapshot's.
    assert all(not torch.equal(mean[k], ga[k]) and not torch.equal(mean[k], gb[k]) for k in running)
    assert json.loads((out / "averaged_from.json").read_text())["steps"] == [2, 3]


def test_an_average_of_one_snapshot_is_that_snapshot(tiny_run, tmp_path):
    _, b = _checkpoints(tiny_run)
    out = average_snapshots([b], tmp_path / "one")
    raw, mean = load_file(str(b / "generator.safetensors")), load_file(str(out / "generator_ema.safetensors"))
    for k in raw:
        if "running_" not in k and "num_batches" not in k:
            assert torch.equal(raw[k], mean[k]), k


def test_the_average_paints_and_bundles(tiny_run, tmp_path):
    out = average_snapshots(_checkpoints(tiny_run), tmp_path / "avg")
    files = monetgan.paint(checkpoint=out, num=2, out=tmp_path / "p")
    assert len(files) == 2
    bundle(out, tmp_path / "w", name="avg")
    generator = load_bundled("avg", device="cpu", folder=tmp_path / "w")
    mean = load_file(str(out / "generator_ema.safetensors"))
    for k, v in generator.state_dict().items():
        assert torch.equal(v, mean[k]), k


def test_mismatched_snapshots_are_refused():
    with pytest.raises(UserError, match="other tensors"):
        mean_state_dict([{"w": torch.zeros(2)}, {"w": torch.zeros(3)}])


def test_cli_bad_steps_and_missing_checkpoints_give_one_line(tiny_run, tmp_path):
    run = str(tiny_run[0])
    for steps, expected in (("2,x", "--steps"), ("2,7", "step-000007")):
        result = subprocess.run([sys.executable, "-m", "monetgan", "average", "--run", run, "--steps", steps,
                                 "--out", str(tmp_path / "o")], capture_output=True, text=True, timeout=120)
        assert result.returncode == 2
        assert expected in result.stderr and "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    result = subprocess.run([sys.executable, "-m", "monetgan", "average", "--run", run, "--steps", "2,3",
                             "--out", str(tmp_path / "o")], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "o" / "generator_ema.safetensors").is_file()


def _ema_only_copy(checkpoint, folder):
    """A paint-only folder holding the EMA generator alone, as a GPU lease returns it."""
    folder.mkdir()
    for name in ("generator_ema.safetensors", "state.json", "config.json"):
        (folder / name).write_bytes((checkpoint / name).read_bytes())
    return folder


def test_a_folder_with_only_the_ema_generator_paints_the_ema_and_refuses_the_raw_one(tiny_run, tmp_path):
    from monetgan.painting.paint import load_generator

    _, b = _checkpoints(tiny_run)
    folder = _ema_only_copy(b, tmp_path / "ema-only")
    generator = load_generator(folder, device="cpu")
    ema = load_file(str(b / "generator_ema.safetensors"))
    for k, v in generator.state_dict().items():
        assert torch.equal(v, ema[k]), k
    assert "EMA" in generator.painter_source
    with pytest.raises(UserError, match="holds only its EMA generator"):
        load_generator(folder, ema=False, device="cpu")
    with pytest.raises(UserError, match="averaging needs raw generators"):
        average_snapshots([folder], tmp_path / "avg")
    bundle(folder, tmp_path / "w", name="ema")  # what ships from a lease's folder
    assert all(torch.equal(v, ema[k]) for k, v in load_bundled("ema", device="cpu", folder=tmp_path / "w").state_dict().items())


def test_a_paint_only_folder_without_any_generator_is_refused(tiny_run, tmp_path):
    from monetgan.training.checkpoint import load_checkpoint

    _, b = _checkpoints(tiny_run)
    folder = _ema_only_copy(b, tmp_path / "none")
    (folder / "generator_ema.safetensors").unlink()
    with pytest.raises(UserError, match="missing generator.safetensors"):
        load_checkpoint(folder, require_training_state=False)
