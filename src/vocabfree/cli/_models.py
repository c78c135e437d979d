"""``vocabfree models list [PATTERN]``."""

from __future__ import annotations

from typing import Annotated

import typer

from vocabfree.cli._output import JsonOption, emit_results, print_table, result_item


def register(app: typer.Typer) -> None:
    models_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None, help="List the model backends.")
    app.add_typer(models_app, name="models")

    @models_app.command("list")
    def list_cmd(
        pattern: Annotated[str, typer.Argument(help="fnmatch filter, e.g. 'local*'")] = "*",
        json_: JsonOption = False,
    ) -> None:
        """List registered model names (prefixes like hf: take a hub id or a directory)."""
        from vocabfree.models import DEFAULT_MODEL, list_models

        entries = list_models(pattern)
        if json_:
            emit_results(
                "models list", None, [result_item(e.name, None, description=e.description) for e in entries], fmt="json"
            )
        else:
            print_table([(e.name, e.description) for e in entries], ("model", "description"))
            typer.echo(f"\ndefault (no --model and no database/probe): {DEFAULT_MODEL}")
