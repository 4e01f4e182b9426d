"""The typer application every command module adds itself to."""

from typing import Annotated

import typer
from typer.core import TyperOption

app = typer.Typer(
    name="medgap",
    help="Benchmark Chinese medical LLMs the MedBench way, and turn the gaps into targeted fixes.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)

_display_type = TyperOption.display_type_rich


def _display_type_of_values_only(self: TyperOption, ctx) -> str | None:
    # typer 0.29's rich help writes "<bool>" after flags (--quiet, --help), as if they took a value;
    # its plain help does not. A flag takes no value, so it shows no type.
    return None if self.is_flag and not self.count else _display_type(self, ctx)


TyperOption.display_type_rich = _display_type_of_values_only  # type: ignore[method-assign]  # deliberate patch


def show_version(value: bool) -> None:
    if value:
        from medgap import package_version

        typer.echo(f"medgap {package_version()}")
        raise typer.Exit()


@app.callback()
def commands(
    version: Annotated[bool, typer.Option("--version", help="Print medgap's version and exit.", callback=show_version,
                                          is_eager=True)] = False,
) -> None:
    # A callback keeps `app` a group of subcommands even when only the one command being run is
    # registered (medgap.cli.main imports just that command's module).
    pass
