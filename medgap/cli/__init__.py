"""`medgap` console command. Each module in `medgap/cli/` adds its commands to `app`;
commands stay thin: parse flags, call the library, print.

COMMANDS says which module defines each command and its one-line summary, so `medgap run …`
imports only the module it needs and `medgap --help` none (start-up time is part of every run). A
test keeps each summary equal to the first line of its command's docstring.
"""

from __future__ import annotations

import faulthandler
import gc
import importlib
import os
import sys

from medgap.cli.app import app

COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("run", "Evaluate a model on a suite; every response is stored the moment it arrives."),
    "results": ("run", "Scores of a stored run per dimension (or task), with 95% confidence intervals."),
    "export": ("run", "Write a run's rows: `jsonl` (one line per item and permutation) or `medbench` (a submission "
               "file)."),
    "runs": ("run", "List the runs stored in the database: status, rows stored, model and suite."),
    "models": ("run", "List the model providers and how to name a model."),
    "datasets": ("datasets", "List the bundled suites and formats, or show what a suite or data file holds."),
    "extract": ("extract", "Print each record back as JSONL with `extracted`: the option letters the response commits "
                "to (\"ACE\"), or null when it gives no answer."),
    "report": ("report", "Write one HTML file (opens offline) with scores, CIs, charts, the rows and the run "
               "configuration."),
    "serve": ("report", "Serve the runs in the database: a list of runs, and each report built fresh on request."),
    "errors": ("errors", "Pre-label every wrong or partially correct row of a run (stored for re-use) and show the "
               "distribution of primary error categories per dimension."),
    "annotate": ("annotate", "Let annotators label a sample of a run's wrong answers with the error codebook, in the "
                 "browser."),
    "keypoints": ("keypoints", "Show the key points of every open-ended item: the source's own list (given), points "
                  "derived from the reference answer (derived), or an override."),
    "rescore": ("rescore", "Match the key points of a run's open-ended answers with another method and store the "
                "decisions on each row; by default the method then scores the run."),
    "agreement": ("rescore", "Cohen's κ between key-point matching methods run on the same rows (see `medgap "
                  "rescore`)."),
    "compare": ("experiment", "Paired comparison of two runs of the same suite: per dimension and metric, both "
                "values, the difference with a 95% paired-bootstrap CI, an exact McNemar or Wilcoxon test, and how "
                "many items changed each way."),
    "experiment": ("experiment", "Run a baseline and a treatment arm on the same items, option orders and seed, "
                   "store both as runs, and compare them with paired statistics (as `medgap compare`)."),
    "interventions": ("experiment", "List the interventions `--intervention` and `--treatment` accept, by level."),
    "diagnose": ("diagnose", "Read a run's metrics and error distribution, name the failure signatures it shows "
                 "with the numbers behind them, and rank the interventions to try (`medgap experiment` tests "
                 "them)."),
    "kb": ("kb", "Build and search knowledge bases (markdown passages, BM25 + dense vectors)."),
    "db": ("db", "Move runs between databases; show the schema version."),
}
COMMAND_MODULES = {name: module for name, (module, _) in COMMANDS.items()}
# The collector's first generation is examined every this many new objects (Python's default: 700).
# Start-up builds some 10^5 objects that live as long as the process (modules, classes, schemas) and
# a run allocates a few per row; at the default pace a fast run spent a tenth of its time collecting
# and freed next to nothing (refcounting frees what a row leaves behind; the collector only finds
# cycles). 100,000 rather than 10,000 took another 1.5 % off a 2,000-row run; the young generation
# then holds at most some 10 MB of cyclic garbage.
GC_YOUNG_OBJECTS = 100_000


def load_commands(command: str | None = None):
    """The app with `command`'s module registered, or every command (tests invoke it with typer's
    CliRunner)."""
    modules = [COMMAND_MODULES[command]] if command in COMMAND_MODULES else dict.fromkeys(COMMAND_MODULES.values())
    for name in modules:
        importlib.import_module(f"medgap.cli.{name}")
    return app


def summaries_only():
    """The app with a placeholder per command, carrying its summary: enough for `medgap --help`."""

    def placeholder() -> None:
        raise SystemExit("internal error: a command's module was not loaded")

    for name, (_, summary) in COMMANDS.items():
        app.command(name=name, help=summary)(placeholder)
    return app


def main() -> None:
    # A crash in native code (llama.cpp) after the local model's load check prints the Python stack,
    # so it says what was running, instead of a bare "Segmentation fault".
    faulthandler.enable()
    # pydantic looks for plugins in the metadata of every installed distribution when it builds the
    # first model (20 ms in a full environment); medgap's records use none. A value the user set stays.
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    gc.set_threshold(GC_YOUNG_OBJECTS, *gc.get_threshold()[1:])
    words = [arg for arg in sys.argv[1:] if not arg.startswith("-")]
    if not words and "--version" in sys.argv:
        app()  # no command module needed
    if not words:
        summaries_only()()  # `medgap`, `medgap --help`: the list of commands, no command module imported
    load_commands(words[0] if words else None)
    gc.freeze()  # what start-up imported lives until the process ends: later collections skip it
    try:
        app()
    finally:
        gc.freeze()  # the process is ending: its final collection need not traverse the run's objects (0.08 s)
