"""The command line as a user meets it: the `sweeplake` command from anywhere, its help, and
refusals that say what is wrong and what to do."""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from sweeplake.cli import build_parser
from tests.conftest import REPO, sweeplake
from tests.test_bad_input import SVR, assert_refused, params_file

BIN = Path(sys.executable).parent


def cron_like(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """The installed command with nothing in the environment but PATH, as cron starts it."""
    return subprocess.run(
        ["sweeplake", *args],
        cwd=cwd,
        env={"PATH": str(BIN)},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_sweeplake_command_works_from_any_folder_under_a_bare_environment(
    tmp_path: Path,
) -> None:
    assert (BIN / "sweeplake").is_file(), "the venv step did not install the command"
    helped = cron_like("--help", cwd=tmp_path)
    assert helped.returncode == 0, helped.stderr
    assert "Hyperparameter sweeps" in helped.stdout
    lake = tmp_path / "lake"
    # With no SWEEPLAKE_CACHE, the scores' cache is the checkout's results/cache, as the
    # docs say; this test's part of it goes when the test does.
    cache = REPO / "results" / "cache" / ".local" / tmp_path.resolve().relative_to("/")
    try:
        done = cron_like(
            "run", "--lake", str(lake), "--model", "svr", "--trials", "2", "--workers", "1",
            cwd=tmp_path,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        ranked = cron_like("rank", "--lake", str(lake), "--format", "json", cwd=tmp_path)
        assert ranked.returncode == 0, ranked.stderr
        assert len(json.loads(ranked.stdout)) == 2
        assert (cache / "lake" / ".scores").is_dir()
    finally:
        shutil.rmtree(cache, ignore_errors=True)


def test_python_m_sweeplake_works_in_the_repository() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "sweeplake", "--help"], cwd=REPO, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "import-data" in done.stdout


def subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


@pytest.mark.parametrize("command", sorted(subcommands()))
def test_every_flag_is_explained_and_shows_its_default(command: str) -> None:
    parser = subcommands()[command]
    # argparse may wrap a long default path inside a word, so spaces are left out of the match
    text = "".join(sweeplake(command, "--help").stdout.split())
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        assert action.help, f"{command} {action.option_strings[0]} has no help"
        rendered = " ".join(parser.formatter_class("x")._get_help_string(action).split())
        assert "".join((rendered % {"default": action.default}).split()) in text
        if action.nargs != 0 and not action.required:
            assert "default:" in rendered, f"{command} {action.option_strings[0]}: no default"


def test_top_level_help_says_what_the_tool_does() -> None:
    text = " ".join(sweeplake("--help").stdout.split())
    assert "fits every trial on one dataset" in text
    for command in subcommands():
        assert command in text


def test_an_argparse_error_names_the_problem_once_and_where_to_look(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    result = sweeplake("run", "--lake", str(lake), "--colour", "red")
    assert_refused(result, lake, "unrecognized arguments: --colour red")
    line = result.stderr.strip()
    assert line.count("sweeplake") == 2 and "(see `sweeplake run --help`)" in line, line


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        (["--model", "random_forest"], "--model"),
        (["--trials", "1"], "--trials"),
        (["--model", "svr", "--trials", "1"], "--model and --trials"),
    ],
)
def test_params_with_model_or_trials_is_refused(tmp_path: Path, extra: list, named: str) -> None:
    lake = tmp_path / "lake"
    params = params_file(tmp_path, SVR, {**SVR, "gamma": 2.0})
    result = sweeplake("run", "--lake", str(lake), "--params", params, *extra)
    assert_refused(result, lake, f"so {named} would be ignored: leave out {named}")
