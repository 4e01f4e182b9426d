"""The typer application every command module adds itself to."""

import typer

app = typer.Typer(
    name="medgap",
    help="Benchmark Chinese medical LLMs the MedBench way, and turn the gaps into targeted fixes.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)
