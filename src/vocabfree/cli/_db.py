"""CLI commands for this noun (being built; registers nothing yet)."""

import typer


def register(app: typer.Typer) -> None:
    """Add this module's commands to the main app."""
