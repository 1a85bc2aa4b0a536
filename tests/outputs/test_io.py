"""The one reader of input files: every way a file can be unusable is one error naming it."""

import json
import os

import pytest

from outputs.io import MAX_DEPTH, UnreadableFileError, read_json, read_toml


def nested(depth: int) -> str:
    return '{"a": ' + "[" * depth + "1" + "]" * depth + "}"


UNUSABLE_JSON = [
    ("missing.json", None, "does not exist"),
    ("folder", "folder", "is a folder"),
    ("truncated.json", '{"run_name": "x", "stat', "is not valid JSON (Unterminated string"),
    ("latin1.json", b'{"name": "\xe9"}', "is not UTF-8 text (invalid continuation byte"),
    ("bombed.json", "[" * 100_000 + "]" * 100_000, f"nests values deeper than {MAX_DEPTH}"),
    ("deep.json", nested(MAX_DEPTH), f"nests values deeper than {MAX_DEPTH}"),
    ("array.json", "[1, 2]", "holds an array, not an object"),
    ("number.json", "3", "holds a number, not an object"),
    ("null.json", "null", "holds null, not an object"),
]


@pytest.mark.parametrize("name, content, problem", UNUSABLE_JSON, ids=[c[0] for c in UNUSABLE_JSON])
def test_every_unusable_json_file_is_one_error_naming_the_file_and_the_problem(
    tmp_path, name, content, problem
):
    path = tmp_path / name
    if content == "folder":
        path.mkdir()
    elif isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    with pytest.raises(UnreadableFileError) as error:
        read_json(path, "A record")
    assert str(error.value).startswith(
        f"A record must be a readable UTF-8 JSON file, but it {problem}"
    )
    assert str(error.value).endswith(f"Received: {path}")
    assert error.value.problem.startswith(problem) and error.value.path == path


@pytest.mark.parametrize(
    "content, problem",
    [
        ("[schedule\n", "is not valid TOML (Expected ']'"),
        ("a = " + "[" * 100_000, f"nests values deeper than {MAX_DEPTH}"),
    ],
    ids=["syntax", "bombed"],
)
def test_an_unusable_toml_file_is_named_with_what_it_is(tmp_path, content, problem):
    path = tmp_path / "bad.toml"
    path.write_text(content)
    with pytest.raises(ValueError, match="^The --config file must be a readable UTF-8 TOML file, "
                       f"but it {problem.replace('[', '.').replace('(', '.')}"):
        read_toml(path, "The --config file")


def test_a_pipe_is_refused_without_waiting_for_input(tmp_path):
    pipe = tmp_path / "pipe.toml"
    os.mkfifo(pipe)
    with pytest.raises(UnreadableFileError, match="but it is not a regular file"):
        read_toml(pipe)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_an_unreadable_file_is_named(tmp_path):
    path = tmp_path / "private.json"
    path.write_text("{}")
    path.chmod(0)
    with pytest.raises(UnreadableFileError, match="cannot be read .permission denied."):
        read_json(path)


def test_files_within_the_depth_limit_read_as_they_are(tmp_path):
    path = tmp_path / "ok.json"
    path.write_text(nested(MAX_DEPTH - 1))
    assert read_json(path) == json.loads(nested(MAX_DEPTH - 1))
    (tmp_path / "ok.toml").write_text('description = "x"\n[schedule]\nepochs = 3\n')
    assert read_toml(tmp_path / "ok.toml") == {"description": "x", "schedule": {"epochs": 3}}
