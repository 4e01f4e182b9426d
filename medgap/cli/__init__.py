"""`medgap` console command. Each module in COMMAND_MODULES adds its commands to `app`;
commands stay thin: parse flags, call the library, print."""

from __future__ import annotations

import importlib

from medgap.cli.app import app

COMMAND_MODULES = [
    "run",
    "datasets",
    "extract",
    "report",
    "errors",
    "annotate",
    "keypoints",
    "rescore",
    "experiment",
    "diagnose",
    "kb",
]


def load_commands():
    """The app with every command registered (tests invoke it with typer's CliRunner)."""
    for name in COMMAND_MODULES:
        importlib.import_module(f"medgap.cli.{name}")
    return app


def main() -> None:
    load_commands()()
