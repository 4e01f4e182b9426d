"""The typer application every command module adds itself to."""

import typer

app = typer.Typer(
    name="medgap",
    help="Benchmark Chinese medical LLMs the MedBench way, and turn the gaps into targeted fixes.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)


@app.callback()
def commands() -> None:
    # A callback keeps `app` a group of subcommands even when only the one command being run is
    # registered (medgap.cli.main imports just that command's module).
    pass
