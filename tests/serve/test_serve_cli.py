"""``vocabfree serve``: flags, environment and config file become the app's settings; bad ones fail fast."""

from __future__ import annotations

import pytest
import typer
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from vocabfree.cli import _serve

uvicorn = pytest.importorskip("uvicorn")


@pytest.fixture
def serve_app() -> typer.Typer:
    app = typer.Typer()
    _serve.register(app)

    @app.callback()
    def _root() -> None:  # keep "serve" a named sub-command
        pass

    return app


@pytest.fixture
def captured(monkeypatch) -> dict:
    calls: dict = {}

    def fake_run(app, **kwargs):
        calls["app"], calls["kwargs"] = app, kwargs

    monkeypatch.setattr(uvicorn, "run", fake_run)
    return calls


def test_flags_reach_the_app(serve_app, captured, tmp_path, monkeypatch):
    monkeypatch.setenv("VOCABFREE_MAX_WAIT_MS", "7")
    config = tmp_path / "serve.toml"
    config.write_text("max_labels = 50\nport = 9999\n")
    result = CliRunner().invoke(
        serve_app,
        [
            "serve",
            "--model",
            "test-tiny",
            "--port",
            "8123",
            "--max-batch",
            "4",
            "--max-upload-mb",
            "2",
            "--config",
            str(config),
            "--allow-private-urls",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "serving test-tiny on http://127.0.0.1:8123/" in result.output
    kwargs = captured["kwargs"]
    assert (kwargs["host"], kwargs["port"]) == ("127.0.0.1", 8123)
    # The app carries the services the command preloaded; their settings are the merged result.
    with TestClient(captured["app"]) as client:
        settings = client.app.state.services.settings
        assert client.get("/health").json()["models"] == ["test-tiny"]
    assert settings.max_batch == 4 and settings.max_wait_ms == 7.0 and settings.max_labels == 50
    assert settings.max_upload_bytes == 2 * 1024 * 1024 and settings.allow_private_urls is True


def test_unknown_model_fails_before_binding(serve_app, captured):
    result = CliRunner().invoke(serve_app, ["serve", "--model", "no-such-model"])
    assert result.exit_code == 1
    assert "unknown model 'no-such-model'" in str(result.exception)
    assert "app" not in captured  # uvicorn never started


def test_api_keys_flag_is_repeatable_and_never_echoed(serve_app, captured):
    result = CliRunner().invoke(
        serve_app, ["serve", "--model", "test-tiny", "--api-key", "first-key", "--api-key", "second-key"]
    )
    assert result.exit_code == 0, result.output
    assert "2 API key(s) required" in result.output and "first-key" not in result.output
    with TestClient(captured["app"]) as client:
        assert client.app.state.services.settings.api_keys == ("first-key", "second-key")
        assert client.get("/v1/models").status_code == 401
        assert client.get("/v1/models", headers={"X-API-Key": "second-key"}).status_code == 200
    assert captured["kwargs"]["limit_concurrency"] == 512  # the server-level limits travel with the app
