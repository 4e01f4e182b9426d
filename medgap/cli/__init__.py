"""`medgap` console command. Each module in `medgap/cli/` adds its commands to `app`;
commands stay thin: parse flags, call the library, print.

COMMAND_MODULES says which module defines each command, so `medgap run …` imports only the
module it needs (start-up time is part of every run); `medgap --help` imports them all.
"""

from __future__ import annotations

import faulthandler
import importlib
import sys

from medgap.cli.app import app

COMMAND_MODULES = {
    "run": "run",
    "results": "run",
    "export": "run",
    "runs": "run",
    "models": "run",
    "datasets": "datasets",
    "extract": "extract",
    "report": "report",
    "serve": "report",
    "errors": "errors",
    "annotate": "annotate",
    "keypoints": "keypoints",
    "rescore": "rescore",
    "agreement": "rescore",
    "compare": "experiment",
    "experiment": "experiment",
    "interventions": "experiment",
    "diagnose": "diagnose",
    "kb": "kb",
    "db": "db",
}


def load_commands(command: str | None = None):
    """The app with `command`'s module registered, or every command (tests invoke it with typer's
    CliRunner)."""
    modules = [COMMAND_MODULES[command]] if command in COMMAND_MODULES else dict.fromkeys(COMMAND_MODULES.values())
    for name in modules:
        importlib.import_module(f"medgap.cli.{name}")
    return app


def main() -> None:
    # A crash in native code (llama.cpp) after the local model's load check prints the Python stack,
    # so it says what was running, instead of a bare "Segmentation fault".
    faulthandler.enable()
    words = [arg for arg in sys.argv[1:] if not arg.startswith("-")]
    if not words and "--version" in sys.argv:
        app()  # no command module needed
    load_commands(words[0] if words else None)()
