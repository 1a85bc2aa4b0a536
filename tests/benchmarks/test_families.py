import json

import pytest

import config as paths
from benchmarks import families, summary
from benchmarks.families import FAMILIES, before_config, get_family, recipe_config
from models import list_models


@pytest.mark.parametrize("family", FAMILIES, ids=lambda family: family.model)
def test_each_family_trains_its_own_model_before_and_after(family):
    assert family.model in list_models()
    assert recipe_config(family).model.name == family.model
    before = before_config(family, paths.REPO_ROOT / "results")
    if family.before_run is not None:
        assert before.model.name == family.model
        assert not before.model.args  # the runs before the recipe had no fused BatchNorm


def test_the_recipes_differ_from_what_came_before_where_a_run_came_before():
    wrn = get_family("wrn-16-4")
    before = before_config(wrn, paths.REPO_ROOT / "results")
    after = recipe_config(wrn)
    assert before.loss.label_smoothing == 0 and after.loss.label_smoothing > 0
    assert after.model.args == {"fused_batchnorm": True}


def test_an_unknown_family_is_refused_naming_the_known_ones():
    with pytest.raises(ValueError, match="known: capsnet, wrn-16-4.*Received: 'resnet'"):
        get_family("resnet")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--families", "resnet"], "argument --families: Unknown family; known: capsnet"),
        (["--window-seconds", "0"], "argument --window-seconds: must be >= 0.1"),
        (["--warmup", "0"], "argument --warmup: must be >= 1"),
        (["--families", "wrn-16-4"], "argument --results:"),
    ],
)
def test_bad_arguments_exit_2_naming_the_flag_and_write_nothing(argv, message, tmp_path,
                                                                 capsys):
    # --results points at an empty folder: the before runs' configurations are missing there.
    with pytest.raises(SystemExit) as stopped:
        families.main([*argv, "--results", str(tmp_path / "none"), "--out", str(tmp_path)])
    assert stopped.value.code == 2
    assert message in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


@pytest.mark.slow  # trains a few steps of the simple CNN's two configurations
def test_a_family_is_timed_before_and_after_and_tabled(tmp_path, fashion_mnist):
    argv = ["--families", "simple-cnn", "--window-seconds", "0.2", "--windows", "2",
            "--warmup", "1", "--results", str(paths.REPO_ROOT / "results"), "--out", str(tmp_path)]
    assert families.main(argv, data=fashion_mnist) == 0

    record = json.loads((tmp_path / families.RECORD_NAME).read_text())
    assert record["command"] == "python -m benchmarks.families " + " ".join(argv)
    [row] = record["rows"]
    assert row["before_run"] == "seed-simple-cnn-adam-cosine-noswa"
    for side in (row["before"], row["after"]):
        assert side["model"] == "simple-cnn" and side["images_per_second"] > 0
        assert len(side["window_images_per_second"]) == 2
        assert side["flops_per_image_train"] > 0 and 0 < side["utilisation"]
        assert set(side["load"]) >= {"other_share", "alone"}
    assert row["after"]["preset"] == "simple-cnn-recipe"
    assert row["speedup"] == pytest.approx(
        row["after"]["images_per_second"] / row["before"]["images_per_second"], rel=1e-2)

    table = summary.families_markdown(tmp_path, tmp_path)
    assert table.splitlines()[2].startswith("| simple-cnn | `seed-simple-cnn-adam-cosine-noswa`")
    assert f"{row['speedup']:.2f}x" in table and "python -m benchmarks.families" in table


def test_without_a_record_the_table_says_how_to_make_one(tmp_path):
    assert "python -m benchmarks.families" in summary.families_markdown(tmp_path, tmp_path)
