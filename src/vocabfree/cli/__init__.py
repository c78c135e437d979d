"""Command-line interface: ``vocabfree <command>``.

One typer sub-app per noun, each in its own module; every command parses options, calls one library
function and formats the answer (a table, or JSON with ``--json``). Heavy modules are imported inside the
commands so ``--help`` stays instant. Exit codes: 0 ok, 1 runtime error (any ``VocabfreeError``), 2 usage.
"""

from __future__ import annotations

import sys

import typer

from vocabfree.cli import _align, _caption, _classify, _db, _eval, _fewshot, _models, _serve, _vqa
from vocabfree.errors import VocabfreeError

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    help="vocabfree: vocabulary-free, zero-shot and few-shot image classification, captioning and evaluation.",
)
for module in (_models, _classify, _fewshot, _eval, _db, _align, _caption, _serve, _vqa):
    module.register(app)


def main() -> None:
    """Console-script entry point: run the app, turning library errors into exit code 1 without a traceback.

    Click handles usage errors itself (exit code 2); anything raised on purpose by the library is a
    ``VocabfreeError`` and is reported as one line.
    """
    try:
        app(prog_name="vocabfree")
    except VocabfreeError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        sys.exit(1)
