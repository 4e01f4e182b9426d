"""The command line as a user sees it: --version, flags in --help, hints that can be copied whole."""

from __future__ import annotations

import importlib.metadata
import os
import re
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from medgap.cli import COMMAND_MODULES, load_commands

REPO = Path(__file__).resolve().parents[1]


def medgap(*args: str, columns: int = 80, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": str(columns), "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-c", "from medgap.cli import main; main()", *args], env=env, cwd=cwd,
                          capture_output=True, text=True, check=False)


def test_version_comes_from_the_installed_package_metadata():
    shown = medgap("--version")
    assert shown.returncode == 0
    assert shown.stdout.strip() == f"medgap {importlib.metadata.version('medgap')}"
    import medgap as package

    assert package.__version__ == importlib.metadata.version("medgap")


def test_flags_show_no_value_placeholder_in_help():
    app = load_commands()
    runner = CliRunner()
    for command in ["--help", *(f"{name} --help" for name in COMMAND_MODULES if name != "kb"), "kb build --help"]:
        shown = runner.invoke(app, command.split(), env={"COLUMNS": "120"})
        assert shown.exit_code == 0, (command, shown.output)
        assert "<bool>" not in shown.output, command
    run_help = runner.invoke(app, ["run", "--help"], env={"COLUMNS": "120"}).output
    assert re.search(r"--quiet\s+-q\s+No progress bar", run_help)  # the flag, then its help
    assert re.search(r"--limit\s+<int range>", run_help)  # options that take a value still say which


def test_the_closing_hint_of_a_run_is_one_line_at_any_width(tmp_path):
    done = medgap("run", "--model", "mock/oracle", "--suite", "demo", "--limit", "1", "--run-id",
                  "a-long-run-name-for-a-narrow-terminal", "--db", "runs.db", columns=40, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert ("stored in runs.db as run a-long-run-name-for-a-narrow-terminal; `medgap results "
            "a-long-run-name-for-a-narrow-terminal --db runs.db` shows it again") in done.stdout.splitlines()


def test_errors_naming_a_command_are_one_line(tmp_path):
    refused = medgap("results", "no-such-run", "--db", str(tmp_path / "missing" / "runs.db"), columns=40)
    assert refused.returncode == 1
    [line] = refused.stderr.strip().splitlines()
    assert "(run `medgap run` first, or pass --db)" in line


def test_help_texts_keep_their_bracketed_defaults():
    # rich reads "[default: ...]" written inside a help text as markup and drops it; defaults that
    # depend on the run are written in parentheses instead.
    shown = CliRunner().invoke(load_commands(), ["experiment", "--help"], env={"COLUMNS": "200"}).output
    assert "default: 0.0, or the run's own when resuming" in shown
    assert "default: the suite's, else 512" in shown
