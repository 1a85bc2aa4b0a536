"""Search space files and the command line are refused, naming the problem, before any trial
starts; the shipped spaces are valid over the default preset."""

import pytest

from search.space import check_space, read_space, sample, space_path
from search.study import storage_url
from tests.search.tiny_sweep import TINY_SPACE, run_sweep, sweep_args

KNOB = """
[augmentation.rotation_range]
type = "float"
low = 0.0
high = 10.0
"""


def space_file(tmp_path, text: str):
    path = tmp_path / "space.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("name", ["augmentation", "recipe", "speed"])
def test_shipped_spaces_are_valid_over_the_default_preset(name):
    space = read_space(space_path(name))
    check_space(space, "default", {})
    assert len(space.knobs) == 6


@pytest.mark.parametrize("text, words", [
    ("[augmentation.rotation]\ntype = 'float'\nlow = 0.0\nhigh = 1.0",
     ["augmentation.rotation", "rotation_range"]),
    (KNOB.replace("high = 10.0", "high = 0.0"), ["augmentation.rotation_range", "empty range"]),
    (KNOB.replace("low = 0.0", "low = 12.0"), ["augmentation.rotation_range", "low > high"]),
    (KNOB.replace('"float"', '"uniform"'), ["type must be one of float, int, categorical"]),
    (KNOB.replace("high = 10.0\n", ""), ["needs high"]),
    (KNOB + "log = true", ["log scale needs low > 0"]),
    ("[runtime.batch_size]\ntype = 'categorical'\nchoices = [64, 128.5]",
     ["runtime.batch_size must be an integer"]),
    ("[runtime.batch_size]\ntype = 'categorical'\nchoices = []", ["needs choices"]),
], ids=["unknown-knob", "empty-range", "low-above-high", "unknown-type", "missing-high",
        "log-from-zero", "wrong-type", "no-choices"])
def test_a_bad_knob_is_refused_naming_it_and_the_file(tmp_path, text, words):
    path = space_file(tmp_path, text)
    with pytest.raises(ValueError) as error:
        read_space(path)
    for word in [str(path), *words]:
        assert word in str(error.value)


def test_a_knob_the_model_cannot_take_is_refused():
    space = read_space(space_path("recipe"))  # searches loss.label_smoothing up to 0.2
    with pytest.raises(ValueError, match=r"\[loss.label_smoothing\] in .*recipe.toml.*capsnet"):
        check_space(space, "default", {"model.name": "capsnet"})


def test_a_setting_both_searched_and_fixed_is_refused():
    space = read_space(space_path("augmentation"))
    with pytest.raises(ValueError, match="searched by .* and fixed by --set"):
        check_space(space, "default", {"augmentation.zoom_range": 0.1})


def test_sample_draws_every_knob_within_its_range(tmp_path):
    import optuna

    space = read_space(space_file(tmp_path, TINY_SPACE))
    drawn = sample(space, optuna.create_study().ask())
    assert set(drawn) == {"augmentation.rotation_range", "optimizer.lr"}
    assert 0 <= drawn["augmentation.rotation_range"] <= 10
    assert 1e-3 <= drawn["optimizer.lr"] <= 1e-2


@pytest.mark.parametrize("text, words", [
    (KNOB.replace("low = 0.0", "low = 12.0"), ["[augmentation.rotation_range]", "low > high"]),
    ("[loss.label_smoothing]\ntype = 'float'\nlow = 0.0\nhigh = 0.2",
     ["[loss.label_smoothing]", "capsnet"]),
], ids=["low-above-high", "model-cannot-take"])
def test_sweep_refuses_a_bad_space_before_any_trial(tmp_path, run_paths, capsys, text, words):
    args = sweep_args("refused", space_file(tmp_path, text), "--set", "model.name=capsnet")
    assert run_sweep(args) == 2
    message = capsys.readouterr().err
    assert all(word in message for word in words), message
    assert not run_paths["RESULTS_PATH"].exists()  # no study, no run folder


@pytest.mark.parametrize("url, words", [
    ("mysql://me@db/sweeps", ["unknown scheme 'mysql'", "postgresql+psycopg://"]),
    ("postgresql://me:secret@127.0.0.1:1/sweeps", ["Cannot open the study storage",
                                                   "me:***@127.0.0.1:1"]),
    ("sqlite:////proc/x/y.db", ["Cannot make the study storage sqlite:////proc/x/y.db: its "
                                "folder /proc/x cannot be made or written", "sqlite:///PATH"]),
], ids=["unknown-scheme", "unreachable-server", "unwritable-folder"])
@pytest.mark.parametrize("dry_run", [True, False], ids=["dry-run", "run"])
def test_a_bad_storage_is_one_clear_error(tmp_path, run_paths, capsys, url, words, dry_run):
    args = sweep_args("refused", space_file(tmp_path, TINY_SPACE), "--storage", url,
                      *(["--dry-run"] if dry_run else ["--trials", "1"]))
    assert run_sweep(args) == 2
    message = capsys.readouterr().err
    assert "Traceback" not in message and "secret" not in message
    assert message.count("error:") == 1 and all(word in message for word in words), message
    assert not run_paths["RESULTS_PATH"].exists()


def test_a_dry_run_leaves_the_folder_of_its_storage_unmade(tmp_path, run_paths, capsys):
    url = f"sqlite:///{tmp_path}/new/study.db"
    args = sweep_args("planned", space_file(tmp_path, TINY_SPACE), "--storage", url, "--dry-run")
    assert run_sweep(args) == 0
    assert sorted(path.name for path in tmp_path.iterdir()) == ["space.toml"]


def test_dry_run_prints_the_space_and_the_storage_and_writes_nothing(tmp_path, run_paths, capsys):
    args = sweep_args("planned", space_file(tmp_path, TINY_SPACE), "--dry-run")
    assert run_sweep(args) == 0
    printed = capsys.readouterr().out
    assert "optimizer.lr" in printed and "log scale" in printed
    assert storage_url(None, "planned") in printed
    assert not run_paths["RESULTS_PATH"].exists()


def test_a_budget_per_trial_is_planned_and_a_bad_one_refused(tmp_path, run_paths, capsys):
    space = space_file(tmp_path, TINY_SPACE)
    assert run_sweep(sweep_args("budget", space, "--trial-budget", "120", "--dry-run")) == 0
    assert "budget per trial: 120 s of training" in capsys.readouterr().out
    assert run_sweep(sweep_args("budget", space, "--trial-budget", "0", "--dry-run")) == 2
    assert "--trial-budget must be > 0 seconds. Received: --trial-budget 0" in (
        capsys.readouterr().err
    )
    assert not run_paths["RESULTS_PATH"].exists()


@pytest.mark.parametrize("name, words", [
    ("../up", "--study must be a plain folder name"),
    ("s" * 120, "--study must be at most 113 characters: its trials' runs are named"),
], ids=["not-plain", "too-long-for-its-trials"])
@pytest.mark.parametrize("extra", [["--dry-run"], ["--trials", "1"]], ids=["dry-run", "run"])
def test_a_study_name_the_run_refuses_the_dry_run_refuses(tmp_path, run_paths, capsys, name,
                                                          words, extra):
    # On PostgreSQL too, where no folder is named after the study.
    args = sweep_args(name, space_file(tmp_path, TINY_SPACE), "--storage",
                      "postgresql://me@127.0.0.1:1/sweeps", *extra)
    assert run_sweep(args) == 2
    message = capsys.readouterr().err
    assert words in message and "Cannot open the study storage" not in message, message
    assert not run_paths["RESULTS_PATH"].exists()


def test_the_search_loads_no_test_set(tmp_path, run_paths, capsys, monkeypatch):
    import data

    asked = {}

    def load(*args, **kwargs):
        asked.update(kwargs)
        raise KeyboardInterrupt  # stops the command before its first trial

    monkeypatch.setattr(data, "load_fashion_mnist", load)
    assert run_sweep(sweep_args("no-test", space_file(tmp_path, TINY_SPACE))) == 130
    assert asked == {"with_test": False}
    assert capsys.readouterr().err == "\nInterrupted; rerun the command to continue the study.\n"


class FakeTrial:
    """Reports are kept; the pruner says prune from epoch `prune_from` on."""

    def __init__(self, prune_from: int):
        self.prune_from, self.reports = prune_from, []

    def report(self, value, step):
        self.reports.append((step, value))

    def should_prune(self):
        return self.reports[-1][0] >= self.prune_from


def test_the_pruning_callback_reports_each_epoch_and_stops_when_told():
    from types import SimpleNamespace

    from search.objective import PruningCallback

    callback = PruningCallback(FakeTrial(prune_from=2))
    callback.set_model(SimpleNamespace(stop_training=False))
    callback.on_epoch_end(0, {"val_accuracy": 0.5})
    assert callback.pruned_at is None and not callback.model.stop_training
    callback.on_epoch_end(1, {"val_accuracy": 0.6})
    assert callback.trial.reports == [(1, 0.5), (2, 0.6)]
    assert callback.pruned_at == 2 and callback.model.stop_training
    assert callback.pruned_by == "pruner"


def test_a_budget_stops_the_trial_once_its_epochs_say_it_would_run_past_it(monkeypatch):
    from types import SimpleNamespace

    from search import objective

    # Epochs of 30 s (the first, which builds the step, 50 s) in a 10-epoch run: 320 s in all.
    clock = iter([0.0, 50.0, 50.0, 80.0, 80.0, 110.0, 110.0, 140.0])
    monkeypatch.setattr(objective.time, "perf_counter", lambda: next(clock))

    def trained(budget):
        callback = objective.PruningCallback(FakeTrial(prune_from=99), budget)
        callback.set_model(SimpleNamespace(stop_training=False))
        callback.set_params({"epochs": 10})  # as fit sets them
        for epoch in range(4):
            callback.on_epoch_begin(epoch)
            callback.on_epoch_end(epoch, {"val_accuracy": 0.5})
            if callback.model.stop_training:
                break
        return callback

    over = trained(300.0)  # after epoch 2: 80 s + 8 x 30 s = 320 s > 300 s
    assert (over.pruned_at, over.pruned_by, over.model.stop_training) == (2, "budget", True)
    assert over.epoch_seconds == [50.0, 30.0]
    clock = iter([0.0, 50.0, 50.0, 80.0, 80.0, 110.0, 110.0, 140.0])
    within = trained(320.0)  # exactly at the budget: it runs on
    assert (within.pruned_at, within.pruned_by, within.model.stop_training) == (None, None, False)
    assert len(within.trial.reports) == 4


def test_the_default_pruner_judges_from_mid_run_and_stops_only_clearly_losing_trials():
    import optuna

    from search.study import DEFAULT_PRUNER, make_pruner

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", pruner=make_pruner(DEFAULT_PRUNER, 10))
    for value in (0.90, 0.91, 0.92, 0.93, 0.94):  # five completed trials, epochs 1-10
        trial = study.ask()
        for epoch in range(1, 11):
            trial.report(value - 0.05 + epoch * 0.005, epoch)
        study.tell(trial, value)

    def pruned_at(values) -> int | None:
        trial = study.ask()
        for epoch, value in enumerate(values, start=1):
            trial.report(value, epoch)
            if trial.should_prune():
                study.tell(trial, state=optuna.trial.TrialState.PRUNED)
                return epoch
        study.tell(trial, values[-1])
        return None

    assert pruned_at([0.5] * 10) == 5  # far behind from the start: judged at epoch 5, no sooner
    assert pruned_at([0.80] * 4 + [0.93] * 6) is None  # behind early, among the best from epoch 5
    assert pruned_at([0.85] * 4 + [0.861] * 6) == 5  # below the bottom quarter at epoch 5


def test_an_exported_preset_names_a_shipped_space_by_its_path_in_the_repository(tmp_path):
    from search.export import shown_source
    from training import presets

    shipped = presets.PRESETS_DIR.parent / "spaces" / "augmentation.toml"
    assert shown_source(str(shipped)) == "spaces/augmentation.toml"
    assert shown_source(str(tmp_path / "mine.toml")) == str(tmp_path / "mine.toml")
