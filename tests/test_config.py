
import pytest

from monetgan.config import (TrainConfig, build_config, check_resume_overrides, load_preset, parse_set_items,
                             preset_names)
from monetgan.errors import UserError


def test_required_presets_ship():
    assert {"wgan-64", "wgan-gp-64", "wgan-gp-256", "quick", "gan-64"} <= set(preset_names())


@pytest.mark.parametrize("name", ["wgan-64", "wgan-gp-64", "wgan-gp-256", "quick", "gan-64"])
def test_every_preset_builds_a_valid_config(name):
    cfg = build_config(name)
    assert cfg.preset == name and cfg.n_critic >= 1 and cfg.optimizer in ("adam", "rmsprop")


def test_paper_defaults_per_loss():
    wgan = TrainConfig(loss="wgan").resolved()
    assert (wgan.optimizer, wgan.lr_critic, wgan.lr_generator, wgan.n_critic, wgan.clip_value) == ("rmsprop", 5e-5, 5e-5, 5, 0.01)
    gp = TrainConfig(loss="wgan-gp").resolved()
    assert (gp.optimizer, gp.lr_critic, gp.adam_beta1, gp.adam_beta2, gp.gp_weight, gp.n_critic) == ("adam", 1e-4, 0.0, 0.9, 10.0, 5)
    assert gp.critic_norm == "layernorm"
    gan = TrainConfig(loss="gan").resolved()
    assert (gan.n_critic, gan.lr_critic, gan.adam_beta1) == (1, 2e-4, 0.5)


def test_batchnorm_critic_is_refused_with_gradient_penalty():
    with pytest.raises(UserError, match="critic_norm"):
        TrainConfig(loss="wgan-gp", critic_norm="batchnorm").resolved()


def test_set_items_are_typed():
    assert parse_set_items(["checkpoint_every=100", "hflip=false", "lr_critic=3e-4", "loss=wgan", "n_critic=auto"]) == {
        "checkpoint_every": 100, "hflip": False, "lr_critic": 3e-4, "loss": "wgan", "n_critic": None}


@pytest.mark.parametrize("item,key", [("n_critc=2", "n_critc"), ("steps=ten", "steps"), ("hflip=maybe", "hflip"),
                                      ("steps", "steps")])
def test_bad_set_items_name_the_key(item, key):
    with pytest.raises(UserError, match=key):
        parse_set_items([item])


@pytest.mark.parametrize("key,value", [("resolution", 48), ("batch_size", 0), ("ema_decay", 1.0), ("loss", "lsgan"),
                                       ("steps", 2.5), ("hflip", "yes"), ("clip_value", -0.01),
                                       ("clip_value", float("inf")), ("gp_weight", float("inf")),
                                       ("gp_weight", float("nan")), ("seed", 2**64 - 1), ("gp_every", 0),
                                       ("time_limit_minutes", -1.0), ("architecture", "vit"),
                                       ("diffaugment", "colour")])
def test_out_of_range_values_name_the_key(key, value):
    with pytest.raises(UserError, match=key):
        TrainConfig(**{key: value})


def test_precedence_preset_then_overrides():
    assert build_config("wgan-64").loss == "wgan"
    assert build_config("wgan-64", {"loss": "wgan-gp"}).optimizer == "adam"  # auto values follow the final loss
    assert build_config("quick", {"steps": 7}).steps == 7


def test_resume_overrides():
    saved = build_config("quick")
    assert check_resume_overrides(saved, {"steps": 99}, None).steps == 99
    assert check_resume_overrides(saved, {"loss": "wgan-gp"}, "quick") == saved  # same value: fine
    with pytest.raises(UserError, match="lr_critic"):
        check_resume_overrides(saved, {"lr_critic": 0.1}, None)
    with pytest.raises(UserError, match="--preset"):
        check_resume_overrides(saved, {}, "wgan-64")


def test_preset_toml_file_with_typo_is_refused(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text('loss = "wgan"\nbatchsize = 3\n')
    with pytest.raises(UserError, match="batchsize.*batch_size"):
        load_preset(str(path))
    path.write_text('loss = "wgan\n')
    with pytest.raises(UserError, match="not valid TOML"):
        load_preset(str(path))
