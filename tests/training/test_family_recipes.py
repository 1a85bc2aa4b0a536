"""One preset per family of the original repository, each the default's recipe on that family:
built from the default (a change to the recipe reaches them), with the options that apply to the
family, and each trains a step."""

import shutil

import keras
import numpy as np
import pytest

from models import get_spec, list_families
from training import presets

# The preset of each family, and the model it trains.
RECIPES = {
    "capsnet-recipe": "capsnet",
    "mobilenet-v2-recipe": "mobilenet-v2",
    "shufflenet-v2-recipe": "shufflenet-v2-1.0",
    "simple-cnn-recipe": "simple-cnn",
    "wrn-16-4-recipe": "wrn-16-4",
}
DEFAULT_CHAIN = presets.compose().presets  # fast-recipe -> airbench-kept -> default
# Where a recipe preset may differ from the default: its model, and the label smoothing of a
# model with its own loss.
MODEL_FIELDS = {"model", "model_args", "preset"}


def test_every_family_but_the_defaults_own_has_a_recipe_preset():
    default_family = get_spec(presets.compose().config.model.name).family
    assert {get_spec(model).family for model in RECIPES.values()} == (
        set(list_families()) - {default_family})


@pytest.mark.parametrize("name, model", RECIPES.items())
def test_a_recipe_preset_is_the_default_on_its_family(name, model):
    layers = presets.compose(preset=name)
    assert layers.presets == [*DEFAULT_CHAIN, name]
    config, default = layers.config.to_dict(), presets.compose().config.to_dict()
    own_loss = get_spec(model).own_loss
    allowed = MODEL_FIELDS | ({"label_smoothing"} if own_loss else set())
    assert {key for key in config if config[key] != default[key]} <= allowed
    assert config["model"] == model
    resolved = presets.checked(layers)
    assert resolved.loss.label_smoothing == (0.0 if own_loss else 0.1)
    assert (resolved.optimizer.bias_lr_factor, resolved.evaluation.tta_shifts) == (8.0, 1)
    # The fused BatchNorm wherever the family has BatchNorm; never fast-cnn's own arguments.
    has_batchnorm = get_spec(model).batchnorm_epsilon is not None
    assert config["model_args"] == ({"fused_batchnorm": True} if has_batchnorm else {})


def test_a_change_to_the_default_recipe_reaches_every_family(tmp_path, monkeypatch):
    shutil.copytree(presets.PRESETS_DIR, tmp_path, dirs_exist_ok=True)
    with open(tmp_path / "airbench-kept.toml", "a", encoding="utf-8") as file:
        file.write("\n[averaging]\nema = 0.99\n")
    monkeypatch.setattr(presets, "PRESETS_DIR", tmp_path)
    for name in RECIPES:
        assert presets.compose(preset=name).config.averaging.ema == 0.99, name


@pytest.mark.parametrize("name, model", RECIPES.items())
def test_a_recipe_preset_trains_a_step(name, model, fashion_mnist, monkeypatch):
    """Its model, built with the preset's arguments and compiled as a run of the preset
    compiles it, but shrunk to the family's small variant, trains one step on 16 images."""
    from models import build_model
    from tests.models.small_variants import small_variant
    from training import experiment
    from training.hardware import make_strategy

    def small_model(entry, **arguments):
        return small_variant(entry, build_model(entry), **arguments)

    monkeypatch.setattr(experiment, "build_model", small_model)
    config = presets.checked(presets.compose(preset=name))
    keras.utils.set_random_seed(0)
    compiled = experiment.build_compiled_model(config, make_strategy("none"), steps_per_epoch=1)
    built = compiled.get_config()
    assert {key: built[key] for key in config.model.args} == config.model.args  # they reached it
    before = [variable.numpy() for variable in compiled.trainable_weights]
    images, labels = fashion_mnist.x_train[:16], fashion_mnist.y_train[:16]
    history = compiled.fit(images, labels, batch_size=16, epochs=1, verbose=0).history
    assert np.isfinite(history["loss"][0])
    unchanged = [variable.path for variable, old in zip(compiled.trainable_weights, before,
                                                        strict=True)
                 if np.array_equal(variable.numpy(), old)]
    assert unchanged == []
