"""Command-line interface: ``vocabfree <command>``.

One typer sub-app per noun, each in its own module; every command parses options, calls one library
function and formats the answer (a table, ``--json`` or ``--jsonl``; see docs/cli.md). Heavy modules are
imported inside the commands so ``--help`` stays instant. Exit codes: 0 ok, 1 runtime error (any
``VocabfreeError``, or every input failed), 2 usage error, 130 interrupted. Every error is one line on stderr.
"""

from __future__ import annotations

import sys

import typer

from vocabfree.cli import _align, _caption, _classify, _db, _demo, _eval, _fewshot, _jobs, _models, _serve, _vqa
from vocabfree.cli._output import click_exceptions
from vocabfree.errors import VocabfreeError

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Plain click help (no rich boxes): full model names, no "<bool>" metavars, wraps to the terminal width.
    rich_markup_mode=None,
    context_settings={"max_content_width": 120},
    help="vocabfree: vocabulary-free, zero-shot and few-shot image classification, captioning and evaluation.",
)
for module in (_demo, _models, _classify, _fewshot, _eval, _db, _jobs, _align, _caption, _serve, _vqa):
    module.register(app)
for group in app.registered_groups:  # sub-apps get the same plain help, whichever module made them
    if group.typer_instance is not None:
        group.typer_instance.rich_markup_mode = None


def _fail(message: str, code: int) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    sys.exit(code)


def main() -> None:
    """Console-script entry point: run the app; every error becomes one ``error: ...`` line and an exit code.

    Click runs with ``standalone_mode=False`` so that its usage errors reach us as exceptions instead of
    being printed as boxed multi-line panels.
    """
    try:
        code = app(prog_name="vocabfree", standalone_mode=False)
    except typer.Exit as exc:  # --help, or a command that ends early on purpose
        sys.exit(exc.exit_code)
    except click_exceptions.NoArgsIsHelpError as exc:  # bare ``vocabfree`` or ``vocabfree db``: the help text
        typer.echo(exc.format_message(), err=True)
        sys.exit(2)
    except click_exceptions.UsageError as exc:
        _fail(exc.format_message(), 2)
    except click_exceptions.ClickException as exc:
        _fail(exc.format_message(), exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        _fail("interrupted", 130)
    except VocabfreeError as exc:
        _fail(str(exc), 1)
    sys.exit(code if isinstance(code, int) else 0)
