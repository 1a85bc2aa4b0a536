import re
import shutil

import pytest

import train
from tests.conftest import REPO_ROOT
from training import presets
from training.config import SECTION_KEYS, SECTIONS, ExperimentConfig


@pytest.fixture
def outputs(tmp_path, monkeypatch):
    """Output folders that must stay empty: nothing is written for a refused configuration."""
    for name in ("RESULTS_PATH", "DL_MODELS_PATH", "TB_LOGS_PATH"):
        monkeypatch.setenv(name, str(tmp_path / name.lower()))
    return tmp_path


def refused(argv, capsys) -> str:
    with pytest.raises(SystemExit) as exit_info:
        train.main(argv)
    assert exit_info.value.code == 2
    return capsys.readouterr().err


def test_every_field_is_in_one_section_under_one_key():
    fields = [name for keys in SECTIONS.values() for name in keys.values()]
    assert len(fields) == len(set(fields))
    assert {*fields, "preset"} == set(ExperimentConfig().to_dict())
    assert SECTION_KEYS["lr_schedule"] == "schedule.name"


@pytest.mark.parametrize("name", presets.list_presets())
def test_every_preset_composes_to_a_valid_configuration(name):
    layers = presets.compose(preset=name)
    assert layers.presets[-1] == name == layers.config.preset
    assert presets.checked(layers).model.name == layers.config.model.name
    assert presets.describe(presets.preset_path(name))["description"]


def test_the_default_preset_is_airbench_kept_over_the_configs_defaults():
    assert presets.compose(preset="fast-recipe").config == ExperimentConfig().replace(
        preset="fast-recipe"
    )
    default = presets.compose().config
    assert default == presets.compose(preset="airbench-kept").config.replace(preset="default")
    assert presets.compose().presets == ["fast-recipe", "airbench-kept", "default"]
    assert (default.schedule.epochs, default.evaluation.tta_shifts) == (15, 1)
    assert set(presets.compose().sources.values()) == {"presets/airbench-kept.toml"}


def test_a_presets_model_args_stay_with_its_models_family():
    # The default's whitening stem is fast-cnn's: another family gets none of it ...
    other = presets.checked(presets.compose(flags={"model": "wrn-16-4"}))
    assert other.model.args == {} and "model_args" not in presets.compose(
        flags={"model": "wrn-16-4"}).sources  # fmt: skip
    assert other.evaluation.tta_shifts == 1  # ... and keeps what any model can take
    # Another model of the same family keeps them; arguments given later are never dropped.
    wider = presets.compose(overrides=['model.name="fast-cnn"']).config
    assert wider.model.args == {"whitening_patch_size": 3, "dirac_init": True}
    asked = presets.compose(flags={"model": "simple-cnn"},
                            overrides=["model.args={dropout = 0.1}"]).config  # fmt: skip
    assert asked.model.args == {"dropout": 0.1}


def test_a_preset_starts_from_another_and_overrides_it():
    layers = presets.compose(preset="fast-cnn-20-epochs")
    assert layers.presets == ["fast-cnn", "fast-cnn-20-epochs"]
    assert (layers.config.model.name, layers.config.schedule.epochs) == ("fast-cnn", 20)
    assert layers.sources["epochs"] == "presets/fast-cnn-20-epochs.toml"


def test_a_preset_that_starts_from_itself_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(presets, "PRESETS_DIR", tmp_path)
    (tmp_path / "a.toml").write_text('preset = "b"\n')
    (tmp_path / "b.toml").write_text('preset = "a"\n')
    with pytest.raises(ValueError, match="starts from itself: a -> b -> a"):
        presets.compose(preset="a")


def test_file_flags_and_set_apply_in_that_order(tmp_path):
    path = tmp_path / "my.toml"
    path.write_text('preset = "fast-cnn"\n[schedule]\nepochs = 3\n[augmentation]\n'
                    "rotation_range = 5\nzoom_range = 0.1\n")
    config, _, args = train.parse_config(
        ["--config", str(path), "--rotation-range", "7", "--set",
         "augmentation.rotation_range=10", "--set", "model.args={widths = [8, 16, 32]}"]
    )
    assert (config.model.name, config.schedule.epochs) == ("fast-cnn", 3)
    assert config.augmentation.zoom_range == 0.1
    assert config.augmentation.rotation_range == 10.0  # --set is applied last
    assert config.model.args == {"widths": [8, 16, 32]}
    assert args.layers.sources["rotation_range"] == "--set augmentation.rotation_range"
    assert args.layers.sources["epochs"] == str(path)


def test_dry_run_prints_the_resolved_configuration_which_reads_back_equal(
    tmp_path, outputs, capsys
):
    argv = ["--preset", "fast-cnn", "--set", "augmentation.rotation_range=10", "--tag", "demo"]
    assert train.main([*argv, "--dry-run"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("# The resolved configuration (preset fast-cnn; then --tag --set ")
    assert 'name = "fast-cnn"' in text and "rotation_range = 10.0" in text
    assert "lr = 0.003" in text and 'tags = [\n    "demo",\n]' in text  # resolved defaults
    saved = tmp_path / "saved.toml"
    saved.write_text(text)
    expected = train.parse_config(argv)[0].resolved()
    assert train.parse_config(["--config", str(saved)])[0] == expected
    assert not any(outputs.glob("*/*")), "a dry run writes nothing"


@pytest.mark.parametrize(
    "content, message",
    [
        ("[augmentation]\nrotaton_range = 10\n",
         "Unknown key 'augmentation.rotaton_range' in {file}; keys of [augmentation]: "
         "rotation_range, zoom_range"),
        ("[augmentaton]\nrotation_range = 10\n", "Unknown section [augmentaton] in {file}"),
        ("[augmentation]\nrotation_range = 500\n",
         "augmentation.rotation_range must be in [0, 180] degrees. Received: "
         "augmentation.rotation_range=500.0 (in {file}): fix it there or override it with "
         "--set augmentation.rotation_range=VALUE"),
        ('[schedule]\nepochs = "ten"\n',
         "schedule.epochs must be an integer. Received: schedule.epochs='ten' (str) in {file}"),
        ("[averaging]\nswa = 1\n", "averaging.swa must be true or false"),
        ("[schedule\n", "The --config file must be a readable UTF-8 TOML file, but it is not "
         "valid TOML (Expected ']' at the end of a table declaration (at line 1, column 10)). "
         "Received: {file}"),
        ('preset = "nope"\n', "Unknown preset 'nope'; known presets: "),
    ],
)
def test_a_bad_file_is_refused_naming_the_key_the_rule_and_the_file(
    tmp_path, outputs, capsys, content, message
):
    path = tmp_path / "bad.toml"
    path.write_text(content)
    error = refused(["--config", str(path)], capsys)
    assert message.format(file=path) in error
    if "Unknown preset" in message:
        assert all(name in error for name in presets.list_presets())
    assert not any(outputs.glob("*/*"))


@pytest.mark.parametrize(
    "override, message",
    [
        ("schedule.epochs=0", "schedule.epochs must be >= 1. Received: schedule.epochs=0 "
         "(from --set schedule.epochs): fix the value"),
        ("schedule.epoch=3", "Unknown key 'schedule.epoch' in --set; keys of [schedule]: name, "
         "epochs"),
        ("epochs=3", "--set takes section.key=value, e.g. --set schedule.epochs=20"),
        ("optimizer.lr=fast", "optimizer.lr must be a number. Received: optimizer.lr='fast'"),
    ],
)
def test_a_bad_override_is_refused_naming_it(outputs, capsys, override, message):
    assert message in refused(["--set", override], capsys)


def test_a_missing_file_and_an_unknown_preset_are_named(tmp_path, capsys):
    assert "The --config file must be a readable UTF-8 TOML file, but it does not exist. " \
        f"Received: {tmp_path / 'no.toml'}" in refused(["--config", str(tmp_path / "no.toml")],
                                                       capsys)
    assert "Unknown preset 'nope'" in refused(["--preset", "nope"], capsys)


@pytest.mark.parametrize(
    "value, message",
    [
        ("{presets}", "The --config file must be a readable UTF-8 TOML file, but it is a folder. "
         "Received: {presets}"),
        ("", "argument --config: expected the path of a TOML configuration file. Received: ''"),
        (" ", "argument --config: expected the path of a TOML configuration file. Received: ' '"),
        ("{deep}", "The --config file must be a readable UTF-8 TOML file, but it nests values "
         "deeper than 32 levels. Received: {deep}"),
        ("{array}", "Unknown section [schedule] in {array}"),
    ],
    ids=["folder", "empty", "blank", "deep", "array-of-tables"],
)
def test_a_config_that_is_no_readable_file_is_one_line_naming_it(
    tmp_path, outputs, capsys, value, message
):
    files = {"presets": presets.PRESETS_DIR, "deep": tmp_path / "deep.toml",
             "array": tmp_path / "array.toml"}
    files["deep"].write_text("a = " + "[" * 100_000)
    files["array"].write_text("[[schedule]]\nepochs = 3\n")
    error = refused(["--config", value.format(**files)], capsys)
    assert message.format(**files) in error
    assert "Traceback" not in error and not any(outputs.glob("*/*"))


@pytest.mark.parametrize(
    "argv",
    [
        ["--preset", "{folder}/mine"],
        ["--preset", "../spaces/augmentation"],
        ["--preset", ""],
        ["--preset", "presets/default"],
        ["--config", "{folder}/starts-elsewhere.toml"],
    ],
    ids=["absolute", "parent", "empty", "relative", "from-a-file"],
)
def test_a_preset_is_a_name_in_presets_and_a_path_goes_through_config(
    tmp_path, outputs, capsys, argv
):
    (tmp_path / "mine.toml").write_text("[schedule]\nepochs = 2\n")  # never read
    (tmp_path / "starts-elsewhere.toml").write_text('preset = "../spaces/augmentation"\n')
    argv = [arg.format(folder=tmp_path) for arg in argv]
    name = argv[1] if argv[0] == "--preset" else "../spaces/augmentation"
    error = refused(argv, capsys)
    assert (
        f"A preset is named by its file in {presets.PRESETS_DIR}, without a path or '.toml' (see "
        "--list-presets); a configuration file elsewhere goes through --config FILE. "
        f"Received: preset={name!r}"
    ) in error
    assert not any(outputs.glob("*/*"))


@pytest.mark.parametrize(
    "content, problem",
    [
        ("[schedule\n", "Preset 'broken' must be a readable UTF-8 TOML file, but it is not "
         "valid TOML"),
        ("[schedul]\nepochs = 3\n", "Unknown section [schedul] in presets/broken.toml"),
        ('preset = "broken"\n', "Preset 'broken' starts from itself: broken -> broken"),
        ('preset = "../default"\n', "A preset is named by its file in"),
        (b"description = '\xff'\n", "Preset 'broken' must be a readable UTF-8 TOML file, but "
         "it is not UTF-8 text"),
    ],
    ids=["syntax", "unknown-section", "cycle", "path", "not-utf8"],
)
def test_list_presets_names_a_broken_preset_and_lists_the_others(
    tmp_path, monkeypatch, capsys, content, problem
):
    folder = tmp_path / "presets"
    shutil.copytree(presets.PRESETS_DIR, folder)
    monkeypatch.setattr(presets, "PRESETS_DIR", folder)
    broken = folder / "broken.toml"
    broken.write_bytes(content if isinstance(content, bytes) else content.encode())
    assert train.main(["--list-presets"]) == 0
    captured = capsys.readouterr()
    assert f"warning: skipped {broken}: {problem}" in captured.err
    assert captured.out.count("\n    ") == len(presets.list_presets()) - 1
    assert "broken" not in captured.out and "fast-cnn-20-epochs (from fast-cnn)" in captured.out


def test_a_resumed_run_refuses_a_preset_a_file_and_overrides(capsys):
    error = refused(["--resume", "old", "--preset", "fast-cnn", "--set", "schedule.epochs=2"],
                    capsys)
    assert "keeps the settings it was started with; remove --preset, --set" in error


def test_list_presets_names_each_with_its_base_and_description(capsys):
    assert train.main(["--list-presets"]) == 0
    text = capsys.readouterr().out
    assert "fast-cnn-20-epochs (from fast-cnn)\n    The fast recipe on fast-cnn" in text
    assert text.count("\n    ") == len(presets.list_presets())


def test_helps_defaults_are_the_default_presets():
    default = presets.compose().config
    help_text = re.sub(r"\s+", " ", train.build_parser().format_help())
    for name, shown in (("model", "'fast-cnn-small'"), ("epochs", str(default.schedule.epochs)),
                        ("lr_schedule", f"'{default.schedule.name}'"),
                        ("ema", str(default.averaging.ema)),
                        ("width_shift_range", str(default.augmentation.width_shift_range))):
        assert f"[{SECTION_KEYS[name]}; default: {shown}]" in help_text


def test_the_readmes_default_run_is_the_default_preset():
    default = presets.checked(presets.compose())
    readme = (REPO_ROOT / "README.md").read_text()
    sentence = next(line for line in readme.splitlines() if line.startswith("`python train.py`"))
    assert (
        f"trains `{default.model.name}` for {default.schedule.epochs} epochs with the "
        f"`{default.schedule.name}` "
        "schedule" in sentence
    )


def test_a_broken_default_preset_is_named_and_commands_that_need_no_preset_still_run(
    tmp_path, monkeypatch, outputs, capsys
):
    folder = tmp_path / "presets"
    shutil.copytree(presets.PRESETS_DIR, folder)
    monkeypatch.setattr(presets, "PRESETS_DIR", folder)
    (folder / "default.toml").write_text("[schedule\n")
    broken = "Preset 'default' must be a readable UTF-8 TOML file, but it is not valid TOML"

    assert train.main(["--list-presets"]) == 0
    captured = capsys.readouterr()
    assert f"warning: skipped {folder / 'default.toml'}: {broken}" in captured.err
    assert "fast-cnn-20-epochs (from fast-cnn)" in captured.out
    assert train.main(["--list-models"]) == 0
    assert broken in refused(["--epochs", "1"], capsys)
    assert not any((outputs / name).exists() for name in ("results_path", "dl_models_path"))
