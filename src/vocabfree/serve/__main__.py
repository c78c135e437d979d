"""``python -m vocabfree.serve [CONFIG.toml]``: run the service configured by a file and ``VOCABFREE_*`` env.

``vocabfree serve`` (with flags) is the usual entry point; this one needs no CLI dependencies, which the
load benchmark and minimal containers use.
"""

from __future__ import annotations

import logging
import sys

from vocabfree.serve.settings import ServeSettings


def main(argv: list[str] | None = None) -> None:
    from vocabfree.serve import server
    from vocabfree.serve.app import create_app

    args = sys.argv[1:] if argv is None else argv
    settings = ServeSettings.load(args[0] if args else None)
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    server.run(create_app(settings), settings)


if __name__ == "__main__":
    main()
