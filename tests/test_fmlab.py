import importlib
import shutil
import subprocess
import sys

import pytest

from fmlab.__main__ import COMMANDS, main
from tests.conftest import REPO_ROOT


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_is_a_modules_main(command):
    module, about = COMMANDS[command]
    assert callable(importlib.import_module(module).main) and about


def test_a_command_runs_with_its_own_arguments(capsys):
    assert main(["train", "--list-presets"]) == 0
    assert "fast-cnn-20-epochs (from fast-cnn)" in capsys.readouterr().out


def test_no_command_lists_them_and_an_unknown_one_is_refused(capsys):
    assert main([]) == 0
    listing = capsys.readouterr().out
    assert all(f"  {name} " in listing for name in COMMANDS)
    assert main(["trian"]) == 2
    assert "error: unknown command 'trian'" in capsys.readouterr().err


def test_help_names_the_command_as_typed():
    result = subprocess.run([sys.executable, "-m", "fmlab", "sweep", "--help"], cwd=REPO_ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stdout.startswith("usage: python -m fmlab sweep")


def test_the_installed_command_lists_every_command():
    installed = shutil.which("fmlab")
    if installed is None:
        pytest.skip("fmlab is not on the PATH: `pip install -e .` installs it")
    result = subprocess.run([installed, "--help"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stdout.startswith("usage: fmlab COMMAND")
    assert all(f"  {name} " in result.stdout for name in COMMANDS)
