import json

import numpy as np
import pytest

from benchmarks import peer, summary
from reporting.sections import section_markers, write_sections

NO_TORCH = "PyTorch is not installed: pip install -r requirements-peer.txt (CPU wheels: see there)"


@pytest.fixture(scope="module")
def torch_side():
    pytest.importorskip("torch", reason=NO_TORCH)
    from benchmarks import peer_torch

    return peer_torch


def _default_config(*argv):
    return peer.peer_config(peer.parse_args(list(argv)))


def _networks(torch_side):
    """The default's Keras network (float32) and its PyTorch port, each freshly built."""
    from models import build_model

    config = _default_config()
    recipe = torch_side.Recipe.from_dict(peer.pytorch_recipe(config))
    return build_model(config.model.name, **config.model.args), torch_side.FastCNN(recipe)


def copy_keras_weights(keras_model, network) -> None:
    """Copies every weight of a Keras `FastCNN` with a whitening stem into its PyTorch port,
    layer by layer: kernels (height, width, in, out) become (out, in, height, width)."""
    import torch

    def tensor(variable, *axes):
        value = np.asarray(variable.numpy(), np.float32)
        return torch.from_numpy(value.transpose(axes) if axes else value)

    with torch.no_grad():
        whitening = keras_model.get_layer("whitening")
        network.stem.conv.weight.copy_(tensor(whitening.kernel, 3, 2, 0, 1))
        network.stem.conv.bias.copy_(tensor(whitening.bias))
        for index, stage in enumerate(network.stages, start=1):
            for conv, norm in ((stage.conv1, stage.bn1), (stage.conv2, stage.bn2)):
                name = f"stage{index}_conv{1 if conv is stage.conv1 else 2}"
                conv.weight.copy_(tensor(keras_model.get_layer(name).kernel, 3, 2, 0, 1))
                layer = keras_model.get_layer(f"{name}_bn")
                norm.weight.copy_(tensor(layer.gamma))
                norm.bias.copy_(tensor(layer.beta))
                norm.running_mean.copy_(tensor(layer.moving_mean))
                norm.running_var.copy_(tensor(layer.moving_variance))
        dense = keras_model.get_layer("logits")
        network.head.weight.copy_(tensor(dense.kernel, 1, 0))
        network.head.bias.copy_(tensor(dense.bias))


def test_the_port_has_as_many_weights_as_the_project_network(torch_side):
    keras_model, network = _networks(torch_side)
    trainable = sum(int(np.prod(weight.shape)) for weight in keras_model.trainable_weights)
    # Frozen whitening and BatchNorm's moving statistics included, as count_params counts them.
    assert torch_side.count_weights(network) == keras_model.count_params()
    assert torch_side.count_weights(network, trainable_only=True) == trainable
    # Biases and BatchNorm's scales and offsets get 8x the learning rate, as 1-D variables do.
    recipe = torch_side.Recipe.from_dict(peer.pytorch_recipe(_default_config()))
    optimizer, _ = torch_side.build_optimizer(network, recipe, steps_per_epoch=10)
    vectors = optimizer.param_groups[1]
    assert vectors["initial_lr"] == pytest.approx(recipe.bias_lr_factor * recipe.lr)
    assert sum(p.numel() for p in vectors["params"]) == sum(
        int(np.prod(weight.shape)) for weight in keras_model.trainable_weights
        if len(weight.shape) == 1)


def test_the_port_computes_the_project_networks_logits_from_the_same_weights(torch_side):
    import keras
    import torch

    from models.whitening import fit_whitening

    keras_model, network = _networks(torch_side)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (16, 28, 28, 1)).astype(np.float32)
    fit_whitening(keras_model, images)
    # Statistics and scales away from their initial values, so each BatchNorm counts; scales of
    # both signs, so that BatchNorm before or after the max-pooling differ.
    for layer in keras_model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            channels = layer.gamma.shape
            layer.gamma.assign(rng.choice([-1.0, 1.0], channels) * rng.uniform(0.5, 1.5, channels))
            layer.beta.assign(rng.normal(0.0, 0.3, channels))
            layer.moving_mean.assign(rng.normal(0.0, 0.3, channels))
            layer.moving_variance.assign(rng.uniform(0.5, 2.0, channels))
    copy_keras_weights(keras_model, network)
    logits = keras.Model(keras_model.inputs, keras_model.get_layer("logits").output)
    expected = logits.predict(images, verbose=0)
    with torch.no_grad():
        actual = network.eval()(torch.from_numpy(images).permute(0, 3, 1, 2)).numpy()
    assert expected.std() > 0.1  # the classes' logits differ: a comparison that can fail
    np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=1e-4)


def test_the_ports_whitening_is_the_projects(torch_side):
    """The same components up to their signs: the kernels' products with themselves agree."""
    import torch

    from models.whitening import PatchWhitening

    rng = np.random.default_rng(1)
    images = rng.uniform(-1.0, 1.0, (64, 28, 28, 1)).astype(np.float32)
    layer = PatchWhitening(3)
    layer.build(images.shape)
    layer.fit(images)
    stem = torch_side.WhiteningStem(3, 1)
    stem.fit(torch.from_numpy(images).permute(0, 3, 1, 2), layer.epsilon)
    theirs = np.asarray(layer.kernel.numpy()).reshape(9, 9)  # (patch, component)
    ours = stem.conv.weight.detach().numpy().reshape(9, 9).T
    np.testing.assert_allclose(ours @ ours.T, theirs @ theirs.T, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(np.abs(stem.conv.bias.numpy()), np.abs(layer.bias.numpy()),
                               rtol=1e-4, atol=1e-4)


def test_shifts_fill_the_border_with_background_as_the_projects_tta(torch_side):
    import torch

    from training.tta import shift

    images = np.arange(2 * 5 * 5, dtype=np.float32).reshape(2, 5, 5, 1) + 1
    down, right = torch.tensor([2, -1]), torch.tensor([-3, 1])
    moved = torch_side.shift(torch.from_numpy(images).permute(0, 3, 1, 2), down, right)
    for index in range(2):
        expected = shift(images[index : index + 1], int(down[index]), int(right[index]))
        np.testing.assert_array_equal(moved[index, 0].numpy(), expected[0, ..., 0])


def test_augmentation_mirrors_and_shifts_each_image_as_the_projects_knobs_say(torch_side):
    import dataclasses

    import torch

    recipe = torch_side.Recipe.from_dict(peer.pytorch_recipe(_default_config()))
    images = torch.randint(1, 256, (64, 1, 28, 28), dtype=torch.uint8)
    generator = torch.Generator().manual_seed(0)
    mirror = dataclasses.replace(recipe, horizontal_flip=1.0, height_shift_range=0.0,
                                 width_shift_range=0.0)
    assert torch.equal(torch_side.augment(images, mirror, generator), images.flip(3))
    moved = torch_side.augment(images, dataclasses.replace(recipe, horizontal_flip=0.0),
                               generator)

    def shifted(image, down, right):
        return torch_side.shift(image[None], torch.tensor([down]), torch.tensor([right]))[0]

    # 10% of 28 pixels: every image is one of its shifts by up to 3 pixels each way.
    offsets = [(down, right) for down in range(-3, 4) for right in range(-3, 4)]
    drawn = []
    for image, result in zip(images, moved):
        matches = [offset for offset in offsets if torch.equal(result, shifted(image, *offset))]
        assert matches, "an image that is no shift of its input by up to 3 pixels"
        drawn.append(matches[0])
    assert len(set(drawn)) > 10  # each image draws its own shift


def test_the_learning_rate_follows_the_projects_one_cycle_schedule(torch_side):
    from training.schedules import OneCycleLearningRate

    recipe = torch_side.Recipe.from_dict(peer.pytorch_recipe(_default_config("--epochs", "3")))
    steps_per_epoch = 7
    factor = torch_side.one_cycle(recipe, steps_per_epoch)
    total = recipe.epochs * steps_per_epoch
    project = OneCycleLearningRate(recipe.lr, round(recipe.warmup_epochs * steps_per_epoch), total)
    expected = [float(project(step)) / recipe.lr for step in range(total + 2)]
    np.testing.assert_allclose([factor(step) for step in range(total + 2)], expected, atol=1e-6)


def test_the_recipe_is_the_default_presets_in_pytorchs_terms():
    config = _default_config("--seed", "3")
    recipe = peer.pytorch_recipe(config)
    assert recipe["batchnorm_momentum"] == pytest.approx(1.0 - 0.9)  # Keras's 0.9
    assert (recipe["widths"], recipe["whitening_patch_size"], recipe["dirac_init"]) == (
        [32, 64, 128], 3, True)
    assert (recipe["epochs"], recipe["seed"], recipe["swa_start"]) == (
        config.schedule.epochs, 3, config.averaging.swa_start)
    assert config.run.tags == (peer.PEER_TAG,) and config.run.name == "peer-default-seed3"
    # A short run is resolved as train.py resolves it: no room for SWA, a shorter warm-up.
    short = peer.pytorch_recipe(_default_config("--epochs", "1"))
    assert short["swa_start"] is None and short["warmup_epochs"] < 1


def test_a_setting_the_port_does_not_implement_is_refused_by_name():
    config = _default_config().replace(rotation_range=10.0, optimizer="sgd")
    with pytest.raises(ValueError) as error:
        peer.pytorch_recipe(config)
    message = str(error.value)
    assert "rotation_range=10.0 (it implements 0.0)" in message
    assert "optimizer='sgd' (it implements 'adam')" in message
    assert "Received:" in message


def test_bad_arguments_are_refused_before_anything_trains_or_is_written(tmp_path, capsys):
    assert peer.main(["--epochs", "0", "--skip-project", "--out", str(tmp_path)]) == 2
    assert "epochs" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
    a_file = tmp_path / "file"
    a_file.write_text("kept")
    with pytest.raises(SystemExit) as exit_code:
        peer.main(["--out", str(a_file)])
    assert exit_code.value.code == 2 and "is a file" in capsys.readouterr().err
    assert a_file.read_text() == "kept"


def _side(machine="machine A", alone=True, seconds=(10.0, 10.0, 10.0),
          accuracies=(0.9, 0.93, 0.95)):
    history = {str(epoch): {"seconds": time, "val_accuracy": accuracy}
               for epoch, (time, accuracy) in enumerate(zip(seconds, accuracies), start=1)}
    return {"machine": machine, "load": {"alone": alone}, "history": history,
            "seconds_to_val": peer.seconds_to_val(history)}


def test_times_compare_only_on_one_machine_with_both_sides_alone():
    project = _side(seconds=(5.0, 5.0, 5.0))
    outcome = peer.comparison(project, _side())
    assert outcome["timing_comparable"] is True
    # 0.92 and 0.93 after 10 s against 20 s; 0.94 after 15 s against 30 s.
    assert outcome["shares_of_pytorch_seconds"] == {"0.92": 0.5, "0.93": 0.5, "0.94": 0.5}
    elsewhere = peer.comparison(project, _side(machine="machine B"))
    assert not elsewhere["timing_comparable"] and elsewhere["shares_of_pytorch_seconds"] == {}
    assert "different machines (machine A; machine B)" in elsewhere["timing_note"]
    shared = peer.comparison(project, _side(alone=False))
    assert "PyTorch shared the cores" in shared["timing_note"]
    skipped = peer.comparison(None, _side())
    assert not skipped["timing_comparable"] and "--skip-project" in skipped["timing_note"]


def test_the_project_side_is_read_from_its_run_record():
    record = {
        "run_name": "peer-default-seed0", "params": 294052, "train_images": 55000,
        "epochs_run": 2, "train_seconds": 30.0, "images_per_second": 3666.7,
        "history": {"1": {"seconds": 10.0, "val_accuracy": 0.925, "loss": 1.0},
                    "2": {"seconds": 20.0, "val_accuracy": 0.935, "loss": 0.9}},
        "selected_weights": "swa", "selected_tta": True, "val_accuracy_swa_tta": 0.94,
        "test_accuracy": 0.939, "load": {"alone": True},
        "system": {"machine": {"key": "machine A"},
                   "packages": {"tensorflow": "2.21.0", "keras": "3.15.0"}},
    }  # fmt: skip
    side = peer.project_side(record)
    assert side["seconds_to_val"] == {"0.92": 10.0, "0.93": 30.0, "0.94": None}
    assert (side["val_accuracy"], side["machine"]) == (0.94, "machine A")
    assert side["framework"] == "TensorFlow 2.21.0, Keras 3.15.0"
    assert side["history"]["2"] == {"seconds": 20.0, "val_accuracy": 0.935}


def _peer_record(project=True, comparable=True):
    def side(framework, rate, seconds):
        return {"framework": framework, "images_per_second": rate, "train_seconds": 300.0,
                "seconds_to_val": {"0.92": seconds, "0.93": 2 * seconds, "0.94": None},
                "selected_weights": "swa", "selected_tta": True, "val_accuracy": 0.9412,
                "test_accuracy": 0.9398}

    return {
        "benchmark": "peer", "command": "python -m benchmarks.peer", "date": "2026-01-02",
        "preset": "default", "targets": [0.92, 0.93, 0.94],
        "machine": {"key": "AMD EPYC family 25 model 17, 2 cores, avx512_bf16"},
        "project": side("TensorFlow 2.21.0, Keras 3.15.0", 2500.0, 100.0) if project else None,
        "pytorch": side("PyTorch 2.13.0+cpu", 2000.0, 125.0),
        "timing_comparable": comparable,
        "timing_note": "one machine" if comparable else "PyTorch shared the cores with others",
        "shares_of_pytorch_seconds": {"0.92": 0.8, "0.93": 0.8} if comparable else {},
    }  # fmt: skip


def test_the_peer_table_shows_both_sides_and_names_the_machine(tmp_path):
    bench = tmp_path / "benchmarks"
    bench.mkdir()
    (bench / "peer-default-vs-pytorch.json").write_text(json.dumps(_peer_record()))
    table = summary.peer_markdown(bench, tmp_path)
    lines = table.splitlines()
    assert lines[0].startswith("| Side | Framework | Images/s | Training time | To val 0.92")
    assert lines[2].startswith("| this project, preset `default` | TensorFlow 2.21.0, Keras")
    assert "| 2,500 | 300 s | 100 s | 200 s | not reached | swa + TTA | 0.9412 | 0.9398 |" in table
    assert lines[3].startswith("| PyTorch reference | PyTorch 2.13.0+cpu | 2,000 | 300 s | 125 s")
    assert ("Trained one after the other on AMD EPYC family 25 model 17, 2 cores, avx512_bf16"
            in table)
    assert "the times compare only on that machine" in table
    assert "[peer-default-vs-pytorch](benchmarks/peer-default-vs-pytorch.json)" in table
    assert ("To validation accuracy 0.92 and 0.93, the project took 0.80x and 0.80x the PyTorch "
            "reference's training time.") in table


def test_the_peer_table_says_why_times_are_not_compared_and_when_there_is_no_record(tmp_path):
    assert summary.peer_markdown(tmp_path, tmp_path) == (
        "No peer record yet: run `python -m benchmarks.peer`.")
    (tmp_path / "peer-default-vs-pytorch.json").write_text(
        json.dumps(_peer_record(project=False, comparable=False)))
    table = summary.peer_markdown(tmp_path, tmp_path)
    assert "this project" not in table and "| PyTorch reference |" in table
    assert "Trained on AMD EPYC" in table
    assert "Its times are not compared: PyTorch shared the cores with others." in table
    assert "smoke run" not in table
    smoke = {**_peer_record(), "smoke_run": True}
    (tmp_path / "peer-default-vs-pytorch.json").write_text(json.dumps(smoke))
    assert "A smoke run (`--limit-train`)" in summary.peer_markdown(tmp_path, tmp_path)


def test_the_peer_table_is_a_generated_section_of_the_benchmarks_page(tmp_path):
    start, end = section_markers(summary.PEER)
    page = tmp_path / summary.BENCHMARKS_PAGE
    page.parent.mkdir(parents=True)
    page.write_text(f"Prose.\n\n{start}\nold\n{end}\n")
    (tmp_path / "results" / "benchmarks").mkdir(parents=True)
    (tmp_path / "results" / "benchmarks" / "peer-default-vs-pytorch.json").write_text(
        json.dumps(_peer_record()))
    write_sections(summary.generated_sections(tmp_path / "results"), tmp_path)
    text = page.read_text()
    assert "old" not in text and "| PyTorch reference | PyTorch 2.13.0+cpu |" in text


@pytest.mark.slow  # a process that loads PyTorch, trains 4 steps and scores the test set
def test_a_tiny_pytorch_side_writes_a_record_with_every_field(torch_side, run_paths, tmp_path,
                                                              capfd):
    from records.machine import cpu_facts

    argv = ["--limit-train", "512", "--val-size", "256", "--epochs", "1", "--skip-project",
            "--out", str(tmp_path)]
    assert peer.main(argv) == 0
    record = json.loads((tmp_path / peer.RECORD_NAME).read_text())
    assert record["command"] == "python -m benchmarks.peer " + " ".join(argv)
    assert record["project"] is None and record["timing_comparable"] is False
    assert record["smoke_run"] is True and record["recipe"]["epochs"] == 1
    side = record["pytorch"]
    assert side["framework"].startswith("PyTorch 2.1")
    assert (side["train_images"], side["epochs"], list(side["history"])) == (512, 1, ["1"])
    assert side["images_per_second"] == pytest.approx(512 / side["train_seconds"])
    assert list(side["seconds_to_val"]) == ["0.92", "0.93", "0.94"]
    assert 0.0 <= side["val_accuracy"] <= 1.0 and 0.0 <= side["test_accuracy"] <= 1.0
    # One epoch leaves no room for SWA: the final and EMA weights, and the better of them (a
    # tie goes to the final weights) with TTA, as the project selects.
    plain = {name: side["accuracies"][f"val_accuracy_{name}"] for name in ("final", "ema")}
    best = "final" if plain["final"] >= plain["ema"] else "ema"
    assert set(side["accuracies"]) == {"val_accuracy_final", "val_accuracy_ema",
                                       f"val_accuracy_{best}_tta"}
    assert side["val_accuracy"] == max(side["accuracies"].values())
    assert side["machine"] == cpu_facts()["key"] == record["machine"]["key"]
    assert side["load"]["epochs_measured"] == 1 and "alone" in side["load"]
    assert "PyTorch epoch 1/1" in capfd.readouterr().out  # printed by the PyTorch process
