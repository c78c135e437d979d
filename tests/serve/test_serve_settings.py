"""``ServeSettings``: defaults < config file < environment < overrides, with errors that name the setting."""

from __future__ import annotations

import pytest

from vocabfree.errors import InvalidInputError
from vocabfree.serve.settings import ServeSettings


def test_precedence(tmp_path):
    config = tmp_path / "serve.toml"
    config.write_text('[serve]\nmodels = ["local", "test-tiny"]\nport = 9000\nmax_batch = 4\nmax_wait_ms = 2.5\n')
    env = {"VOCABFREE_PORT": "9100", "VOCABFREE_DB": "/srv/db", "VOCABFREE_ALLOW_URLS": "false", "HOME": "/x"}
    settings = ServeSettings.load(config, env=env, max_batch=8, host=None)
    assert settings.models == ("local", "test-tiny") and settings.default_model == "local"
    assert settings.port == 9100  # env beats the file
    assert settings.max_batch == 8  # an override beats both; None means "not given"
    assert settings.max_wait_ms == 2.5 and settings.database == "/srv/db" and settings.allow_urls is False
    assert settings.host == "127.0.0.1"


def test_env_model_list_and_top_level_toml(tmp_path):
    config = tmp_path / "plain.toml"
    config.write_text('database = "db"\n')
    settings = ServeSettings.load(config, env={"VOCABFREE_MODEL": "test-tiny, local"})
    assert settings.models == ("test-tiny", "local") and settings.database == "db"


def test_settings_are_frozen():
    settings = ServeSettings()
    with pytest.raises(AttributeError):
        settings.port = 1  # type: ignore[misc]
    assert settings.replace(port=1).port == 1 and settings.port == 8000


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"max_batch": "zero"}, "max_batch='zero'"),
        ({"max_batch": 0}, "max_batch must be an integer >= 1"),
        ({"allow_urls": "maybe"}, "allow_urls"),
        ({"request_timeout_s": 0}, "request_timeout_s must be a positive number"),
        ({"models": ""}, "models is empty"),
        ({"port": 70000}, "port"),
        ({"max_batchh": 3}, "unknown serve setting(s): max_batchh"),
    ],
)
def test_bad_values_name_the_setting(values, message):
    with pytest.raises(InvalidInputError) as info:
        ServeSettings.from_mapping(values)
    assert message in str(info.value)


def test_bad_config_files(tmp_path):
    with pytest.raises(InvalidInputError, match="does not exist"):
        ServeSettings.load(tmp_path / "missing.toml", env={})
    broken = tmp_path / "broken.toml"
    broken.write_text("port = = 3")
    with pytest.raises(InvalidInputError, match="not valid TOML"):
        ServeSettings.load(broken, env={})


def test_body_limit_leaves_room_for_base64():
    settings = ServeSettings(max_upload_bytes=3_000_000)
    assert settings.max_body_bytes > 4_000_000


def test_shipped_example_config_loads():
    from pathlib import Path

    example = Path(__file__).resolve().parents[2] / "deploy" / "serve.toml"
    settings = ServeSettings.load(example, env={})
    assert settings.models == ("local",) and settings.host == "127.0.0.1"
    assert settings.allow_private_urls is False
