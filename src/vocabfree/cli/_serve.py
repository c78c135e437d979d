"""``vocabfree serve``: run the HTTP service (API + web page) with uvicorn.

Settings merge, lowest to highest priority: defaults, ``--config FILE.toml``, ``VOCABFREE_*`` environment
variables, then the flags given here. fastapi/uvicorn are imported inside the command (the ``serve`` extra).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    """Add ``serve`` to the main app."""

    @app.command("serve")
    def serve(
        model: Annotated[
            list[str] | None,
            typer.Option("--model", "-m", help="model to load (repeat for several; the first is the default)"),
        ] = None,
        db: Annotated[
            Path | None, typer.Option("--db", help="caption database folder (enables vocabulary-free)")
        ] = None,
        caption_checkpoint: Annotated[
            Path | None, typer.Option("--caption-checkpoint", help="captioner checkpoint folder")
        ] = None,
        host: Annotated[str | None, typer.Option(help="interface to bind (default 127.0.0.1)")] = None,
        port: Annotated[int | None, typer.Option(help="port to bind (default 8000)")] = None,
        device: Annotated[str | None, typer.Option(help="cpu, cuda, cuda:1 ... (default backend's)")] = None,
        max_batch: Annotated[
            int | None, typer.Option("--max-batch", help="largest micro-batch; 1 disables batching (default 32)")
        ] = None,
        max_wait_ms: Annotated[
            float | None, typer.Option("--max-wait-ms", help="how long a batch waits to fill (default 5)")
        ] = None,
        max_upload_mb: Annotated[
            float | None, typer.Option("--max-upload-mb", help="largest accepted image file (default 10)")
        ] = None,
        request_timeout: Annotated[
            float | None, typer.Option("--request-timeout", help="seconds before a request answers 503 (default 30)")
        ] = None,
        root_path: Annotated[
            str | None, typer.Option("--root-path", help="URL prefix when proxied under a sub-path")
        ] = None,
        allow_private_urls: Annotated[
            bool | None,
            typer.Option("--allow-private-urls/--public-urls-only", help="let image URLs reach private hosts"),
        ] = None,
        log_level: Annotated[str | None, typer.Option("--log-level", help="debug, info, warning")] = None,
        api_key: Annotated[
            list[str] | None,
            typer.Option(
                "--api-key",
                help="require this key on /v1 routes (repeat for several; VOCABFREE_API_KEYS=k1,k2 keeps keys "
                "out of the process list)",
            ),
        ] = None,
        config: Annotated[
            Path | None, typer.Option("--config", "-c", help="TOML file with settings (keys = field names)")
        ] = None,
    ) -> None:
        """Serve the HTTP API and web page: zero-shot and vocabulary-free classification, captions, embeddings."""
        import logging

        from vocabfree.serve import server
        from vocabfree.serve.app import create_app
        from vocabfree.serve.services import Services
        from vocabfree.serve.settings import MiB, ServeSettings

        if not model and db:  # the model comes from the database's manifest, as for `classify --db`
            from vocabfree.database import read_manifest

            model = [read_manifest(db).model]
        settings = ServeSettings.load(
            config,
            env=os.environ,
            models=tuple(model) if model else None,
            database=str(db) if db else None,
            caption_checkpoint=str(caption_checkpoint) if caption_checkpoint else None,
            host=host,
            port=port,
            device=device,
            max_batch=max_batch,
            max_wait_ms=max_wait_ms,
            max_upload_bytes=int(max_upload_mb * MiB) if max_upload_mb else None,
            request_timeout_s=request_timeout,
            root_path=root_path,
            allow_private_urls=allow_private_urls,
            log_level=log_level,
            api_keys=tuple(api_key) if api_key else None,
        )
        logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        services = Services.build(settings)  # load before binding: a bad model/database fails here, briefly
        keys = f" ({len(settings.api_keys)} API key(s) required on /v1)" if settings.api_keys else ""
        typer.echo(f"vocabfree: serving {', '.join(settings.models)} on http://{settings.host}:{settings.port}/{keys}")
        server.run(create_app(services=services), settings)
