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
]


def main() -> None:
    for name in COMMAND_MODULES:
        importlib.import_module(f"medgap.cli.{name}")
    app()
