"""``vocabfree models list [PATTERN]``."""

from __future__ import annotations

from typing import Annotated

import typer

from vocabfree.cli._output import JsonOption, print_json, print_table


def register(app: typer.Typer) -> None:
    models_app = typer.Typer(no_args_is_help=True, help="List the model backends.")
    app.add_typer(models_app, name="models")

    @models_app.command("list")
    def list_cmd(
        pattern: Annotated[str, typer.Argument(help="fnmatch filter, e.g. 'local*'")] = "*",
        json_: JsonOption = False,
    ) -> None:
        """List registered model names (prefixes like hf: take a hub id or a directory)."""
        from vocabfree.models import list_models

        entries = [{"name": e.name, "description": e.description} for e in list_models(pattern)]
        if json_:
            print_json(entries)
        else:
            print_table([(e["name"], e["description"]) for e in entries], ("model", "description"))
