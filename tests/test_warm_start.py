"""init_from: a new run's generator starts from a painter, exactly, and a painter that does not fit is refused."""

import json

import pytest
import torch
from safetensors.torch import load_file

import monetgan
from monetgan.errors import UserError
from monetgan.files import sha256_of_file
from monetgan.painting.bundled import bundle
from monetgan.training.step import update_ema

from conftest import TINY
from test_cli import TINY_SET, assert_one_line_error, run_cli
from test_resume import digests


@pytest.fixture
def source(paintings, tmp_path):
    """A tiny painter (a trained checkpoint, bundled as a .safetensors + card) to start from."""
    run = monetgan.train(paintings, tmp_path / "source", show_progress=False, tensorboard=False,
                         **dict(TINY, steps=3, checkpoint_every=3, seed=7))
    return bundle(run.checkpoint, tmp_path / "w", name="tiny"), run.checkpoint


def test_generator_and_ema_start_as_the_source_painter(paintings, tmp_path, source):
    file, _ = source
    monetgan.train(paintings, tmp_path / "warm", show_progress=False, tensorboard=False,
                   **dict(TINY, steps=1, checkpoint_every=1, init_from=str(file), ema_decay=0.9))
    # After one step the EMA is 0.9 * source + 0.1 * trained generator: the full decay, no warm-up
    # term (which would give d = 0.1 and forget the painter at once).
    src = load_file(str(file))
    ckpt = tmp_path / "warm" / "checkpoints" / "step-000001"
    ema, gen = load_file(str(ckpt / "generator_ema.safetensors")), load_file(str(ckpt / "generator.safetensors"))
    weight = next(k for k, v in src.items() if v.dim() == 4)  # a conv weight: averaged, not copied
    assert not torch.equal(gen[weight], src[weight])  # the generator trained
    torch.testing.assert_close(ema[weight], 0.9 * src[weight] + 0.1 * gen[weight])
    info = json.loads((tmp_path / "warm" / "run.json").read_text())
    assert info["init_from"] == str(file) and info["init_sha256"] == sha256_of_file(file)


def test_a_cold_run_differs_from_a_warm_one(paintings, tmp_path, source):
    file, _ = source
    settings = dict(TINY, steps=1, checkpoint_every=1)
    cold = monetgan.train(paintings, tmp_path / "cold", show_progress=False, tensorboard=False, **settings)
    warm = monetgan.train(paintings, tmp_path / "warm", show_progress=False, tensorboard=False,
                          **settings, init_from=str(file))
    assert digests(cold.checkpoint)["generator.safetensors"] != digests(warm.checkpoint)["generator.safetensors"]


def test_a_checkpoint_folder_is_a_source_and_resume_is_exact(paintings, tmp_path, source):
    _, checkpoint = source
    settings = dict(TINY, steps=4, checkpoint_every=2, init_from=str(checkpoint))
    straight = monetgan.train(paintings, tmp_path / "a", show_progress=False, tensorboard=False, **settings)
    monetgan.train(paintings, tmp_path / "b", show_progress=False, tensorboard=False, **{**settings, "steps": 2})
    resumed = monetgan.train(paintings, tmp_path / "b", show_progress=False, tensorboard=False, steps=4)
    assert digests(straight.checkpoint) == digests(resumed.checkpoint)


def test_ema_warm_flag_keeps_the_full_decay():
    ema, model = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)
    before = ema.weight.detach().clone()
    update_ema(ema, model, 0.99, step=0, warm=True)
    torch.testing.assert_close(ema.weight, 0.99 * before + 0.01 * model.weight)


def test_a_painter_that_does_not_fit_is_refused_before_the_run_is_written(paintings, tmp_path, source):
    file, _ = source
    with pytest.raises(UserError, match="does not fit"):
        monetgan.train(paintings, tmp_path / "wide", show_progress=False, tensorboard=False,
                       **dict(TINY, generator_channels=16, init_from=str(file)))
    assert not (tmp_path / "wide" / "config.json").exists()


def test_cli_init_from_errors_are_one_line(paintings, tmp_path):
    result = run_cli("train", "--data", paintings, "--run", tmp_path / "r", "--resolution", "32",
                     "--init-from", tmp_path / "missing.safetensors", "--set", *TINY_SET)
    assert_one_line_error(result, "--init-from", "missing.safetensors")
    result = run_cli("train", "--data", paintings, "--run", tmp_path / "r2", "--resolution", "32",
                     "--init-from", "bundled", "--set", *TINY_SET)
    assert_one_line_error(result, "--init-from bundled", "does not fit")


def test_critic_warmup_holds_the_generator_while_the_critic_learns(paintings, tmp_path, source):
    file, _ = source
    settings = dict(TINY, steps=3, checkpoint_every=1, keep_checkpoints=0, init_from=str(file), critic_warmup=2)
    monetgan.train(paintings, tmp_path / "warm", show_progress=False, tensorboard=False, **settings)
    src = load_file(str(file))
    ckpts = tmp_path / "warm" / "checkpoints"
    critics = [load_file(str(ckpts / f"step-00000{i}" / "critic.safetensors")) for i in (1, 2)]
    # BatchNorm's running statistics follow the batches the critic steps paint (they are not weights).
    weights = [k for k in src if "running_" not in k and "num_batches_tracked" not in k]
    for step in (1, 2):  # waiting: the generator's weights and its EMA are still the source painter's
        generator = load_file(str(ckpts / f"step-00000{step}" / "generator.safetensors"))
        ema = load_file(str(ckpts / f"step-00000{step}" / "generator_ema.safetensors"))
        assert all(torch.equal(generator[k], src[k]) for k in weights), step
        assert all(torch.equal(ema[k], src[k]) for k in src), step
    assert any(not torch.equal(critics[0][k], critics[1][k]) for k in critics[0])  # the critic trained meanwhile
    moved = load_file(str(ckpts / "step-000003" / "generator.safetensors"))
    assert any(not torch.equal(moved[k], src[k]) for k in weights)  # then the generator trains
    log = [json.loads(line) for line in (tmp_path / "warm" / "log.jsonl").read_text().splitlines()]
    assert [r["generator_grad_norm"] == 0 for r in log] == [True, True, False]
    assert all(r["generator_loss"] == r["generator_loss"] for r in log)  # logged (not NaN) while waiting


def test_critic_warmup_resumes_exactly(paintings, tmp_path, source):
    file, _ = source
    settings = dict(TINY, steps=4, checkpoint_every=1, init_from=str(file), critic_warmup=2)
    straight = monetgan.train(paintings, tmp_path / "a", show_progress=False, tensorboard=False, **settings)
    monetgan.train(paintings, tmp_path / "b", show_progress=False, tensorboard=False, **{**settings, "steps": 1})
    resumed = monetgan.train(paintings, tmp_path / "b", show_progress=False, tensorboard=False, steps=4)
    assert digests(straight.checkpoint) == digests(resumed.checkpoint)


def _distance(a: dict, b: dict) -> float:
    return sum(float((a[k].float() - b[k].float()).pow(2).sum()) for k in a if a[k].is_floating_point())


def test_a_checkpoint_hands_on_its_critic_and_both_generators(paintings, tmp_path, source):
    """StyleGAN2-ADA's --resume: generator, EMA and critic each start from their own copy."""
    file, checkpoint = source
    settings = dict(TINY, steps=1, checkpoint_every=1, critic_warmup=1)  # the generators wait one step
    monetgan.train(paintings, tmp_path / "warm", show_progress=False, tensorboard=False,
                   **settings, init_from=str(checkpoint))
    monetgan.train(paintings, tmp_path / "cold", show_progress=False, tensorboard=False,
                   **settings, init_from=str(file))  # a painter file has no critic: a fresh one
    src = {stem: load_file(str(checkpoint / f"{stem}.safetensors")) for stem in ("generator", "generator_ema", "critic")}
    warm = {stem: load_file(str(tmp_path / "warm/checkpoints/step-000001" / f"{stem}.safetensors")) for stem in src}
    cold = load_file(str(tmp_path / "cold/checkpoints/step-000001/critic.safetensors"))
    assert any(not torch.equal(src["generator"][k], src["generator_ema"][k]) for k in src["generator"])
    weights = [k for k in src["generator"] if "running_" not in k and "num_batches_tracked" not in k]
    assert all(torch.equal(warm["generator"][k], src["generator"][k]) for k in weights)  # the raw one, not the EMA
    assert all(torch.equal(warm["generator_ema"][k], src["generator_ema"][k]) for k in src["generator_ema"])
    # One critic step from the checkpoint's critic stays near it; a fresh critic is far from it.
    assert any(not torch.equal(warm["critic"][k], src["critic"][k]) for k in src["critic"])
    assert _distance(warm["critic"], src["critic"]) < 0.01 * _distance(cold, src["critic"])
    info = json.loads((tmp_path / "warm" / "run.json").read_text())
    assert info["init_critic_sha256"] == sha256_of_file(checkpoint / "critic.safetensors")
    assert "init_critic" not in json.loads((tmp_path / "cold" / "run.json").read_text())


def test_a_critic_that_does_not_fit_starts_fresh_and_says_so(paintings, tmp_path, source):
    _, checkpoint = source
    monetgan.train(paintings, tmp_path / "other", show_progress=False, tensorboard=False,
                   **dict(TINY, steps=1, checkpoint_every=1, critic="pixel", critic_channels=16,
                          init_from=str(checkpoint)))
    info = json.loads((tmp_path / "other" / "run.json").read_text())
    assert info["init_critic"].startswith("fresh: the checkpoint's critic does not fit")
    assert "init_critic_sha256" not in info
