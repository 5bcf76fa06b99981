"""Settings: defaults, the settings module, typed environment overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from findig.project.conf import (
    DEFAULTS,
    ImproperlyConfigured,
    convert_env_value,
    settings,
)


def test_defaults_without_a_module(clean_settings, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert not settings.configured
    assert settings.DEBUG is False
    assert settings.INSTALLED_APPS == []
    assert settings.REDIS_URL is None
    assert tmp_path == settings.BASE_DIR
    assert f"sqlite:///{tmp_path / 'db.sqlite3'}" == settings.DATABASE_URL
    assert DEFAULTS["ALLOWED_HOSTS"] == settings.ALLOWED_HOSTS
    assert settings.settings_module is None


def test_module_values_and_base_dir(make_project):
    project = make_project(settings_text="DEBUG = True\nCUSTOM = 'mine'\nlower = 1\n")
    assert settings.settings_module == f"{project.name}.settings"
    assert settings.DEBUG is True
    assert settings.CUSTOM == "mine"
    # The project directory holds the settings package.
    assert project.root == settings.BASE_DIR
    with pytest.raises(AttributeError):
        settings.lower  # noqa: B018 - only upper-case names are settings
    with pytest.raises(AttributeError, match="no setting named 'NOPE'"):
        settings.NOPE  # noqa: B018


def test_database_url_defaults_under_base_dir(make_project, monkeypatch):
    project = make_project()
    # The project's DATABASE_URL is removed: the default is under BASE_DIR.
    path = project.root / project.name / "settings.py"
    text = path.read_text().replace("DATABASE_URL", "OTHER_URL")
    path.write_text(text)
    project.reload()
    assert f"sqlite:///{project.root / 'db.sqlite3'}" == settings.DATABASE_URL


@pytest.mark.parametrize(
    ("name", "raw", "expected"),
    [
        ("DEBUG", "yes", True),
        ("DEBUG", "0", False),
        ("DEBUG", "OFF", False),
        ("WORKERS", "4", 4),
        ("FACTOR", "2.5", 2.5),
        ("INSTALLED_APPS", '["a", "b.c"]', ["a", "b.c"]),
        (
            "ALLOWED_HOSTS",
            "api.example.com, example.com",
            ["api.example.com", "example.com"],
        ),
        ("DATABASE_OPTIONS", '{"echo": true}', {"echo": True}),
        ("REDIS_URL", "redis://localhost/1", "redis://localhost/1"),
        ("REDIS_URL", "", None),
        ("JSON_INDENT", "2", 2),
        ("BASE_DIR", "/srv/app", Path("/srv/app")),
        ("SECRET_KEY", "s3cret-from-env", "s3cret-from-env"),
        ("PAIR", "x,y", ("x", "y")),
    ],
)
def test_environment_overrides_are_typed(
    make_project, monkeypatch, name, raw, expected
):
    make_project(settings_text="FACTOR = 1.0\nPAIR = ('a', 'b')\n")
    monkeypatch.setenv(f"FINDIG_{name}", raw)
    settings.reset()
    value = getattr(settings, name)
    assert value == expected
    assert type(value) is type(expected)


@pytest.mark.parametrize(
    ("name", "raw", "message"),
    [
        ("DEBUG", "maybe", "FINDIG_DEBUG: expected a boolean"),
        ("WORKERS", "many", "FINDIG_WORKERS: expected an integer, got 'many'"),
        ("FACTOR", "big", "FINDIG_FACTOR: expected a number"),
        ("INSTALLED_APPS", '["a",', "FINDIG_INSTALLED_APPS: expected a JSON array"),
        ("DATABASE_OPTIONS", "[1]", "FINDIG_DATABASE_OPTIONS: expected a JSON object"),
        ("PROXY_FIX", "x_for=1", "FINDIG_PROXY_FIX: expected a JSON object"),
    ],
)
def test_bad_environment_values_name_the_variable(
    make_project, monkeypatch, name, raw, message
):
    make_project(settings_text="FACTOR = 1.0\n")
    monkeypatch.setenv(f"FINDIG_{name}", raw)
    settings.reset()
    with pytest.raises(ImproperlyConfigured, match=message):
        settings.DEBUG  # noqa: B018 - loading fails as a whole


@pytest.mark.parametrize(
    ("name", "raw", "default", "kind", "expected"),
    [
        ("APP_LIMIT", "7", 5, None, 7),
        ("APP_RATIO", "0.5", 1.0, None, 0.5),
        ("APP_ON", "off", True, None, False),
        ("APP_NAMES", "a, b", ["x"], None, ["a", "b"]),
        ("APP_NAMES", '["a", 1]', ("x",), None, ("a", 1)),
        ("APP_OPTIONS", '{"k": 1}', {}, None, {"k": 1}),
        ("APP_URL", "redis://h/0", None, None, "redis://h/0"),
        ("APP_URL", "", None, None, None),
        ("APP_TIMEOUT", "30", None, int, 30),
        ("APP_TIMEOUT", " ", None, int, None),
        # Findig's own optional settings keep their documented type.
        ("JSON_INDENT", "4", None, None, 4),
    ],
)
def test_convert_env_value_types_like_findig_settings(
    name, raw, default, kind, expected
):
    value = convert_env_value(name, raw, default, kind=kind)
    assert value == expected
    assert type(value) is type(expected)


def test_convert_env_value_names_the_variable():
    with pytest.raises(ImproperlyConfigured, match="FINDIG_APP_LIMIT: expected an i"):
        convert_env_value("APP_LIMIT", "lots", 5)
    with pytest.raises(ImproperlyConfigured, match="FINDIG_APP_SET: the setting hol"):
        convert_env_value("APP_SET", "a", frozenset())


def test_environment_only_overrides_known_settings(make_project, monkeypatch):
    make_project()
    monkeypatch.setenv("FINDIG_NOT_A_SETTING", "1")
    settings.reset()
    assert "NOT_A_SETTING" not in settings


def test_web_concurrency_sets_the_default_workers(clean_settings, monkeypatch):
    monkeypatch.setenv("WEB_CONCURRENCY", "3")
    assert settings.WORKERS == 3
    monkeypatch.setenv("FINDIG_WORKERS", "5")
    settings.reset()
    assert settings.WORKERS == 5


def test_secret_key_required_unless_debug(make_project, monkeypatch):
    make_project(settings_text="SECRET_KEY = ''\n")
    with pytest.raises(ImproperlyConfigured, match="FINDIG_SECRET_KEY"):
        settings.SECRET_KEY  # noqa: B018
    assert any("SECRET_KEY" in problem for problem in settings.check())
    with settings.override(DEBUG=True):
        key = settings.SECRET_KEY
        assert key.startswith("insecure-debug-only-")
        assert settings.check() == []
        # Stable across loads (a reloader restart keeps tokens valid).
        settings.reset()
    monkeypatch.setenv("FINDIG_DEBUG", "1")
    assert key == settings.SECRET_KEY
    assert settings.get("SECRET_KEY") == ""


def test_override_nests_and_restores(make_project):
    make_project(settings_text="DEBUG = False\n")
    with settings.override(DEBUG=True, EXTRA=1):
        assert settings.DEBUG is True
        with settings.override(DEBUG=False):
            assert settings.DEBUG is False
            assert settings.EXTRA == 1
        assert settings.DEBUG is True
    assert settings.DEBUG is False
    assert "EXTRA" not in settings
    with pytest.raises(ValueError, match="upper case"):
        with settings.override(debug=True):
            pass


def test_settings_are_read_only(clean_settings):
    with pytest.raises(AttributeError, match="read-only"):
        settings.DEBUG = True


def test_configure_in_code(clean_settings, monkeypatch):
    settings.configure(DEBUG=True, INSTALLED_APPS=["x"])
    assert settings.configured
    assert settings.INSTALLED_APPS == ["x"]
    monkeypatch.setenv("FINDIG_INSTALLED_APPS", "y")
    settings.reset()
    settings.configure(INSTALLED_APPS=["x"])
    # The environment still wins over values given in code.
    assert settings.INSTALLED_APPS == ["y"]
    with pytest.raises(RuntimeError, match="already loaded"):
        settings.configure()


def test_missing_settings_module_is_explained(clean_settings, monkeypatch):
    monkeypatch.setenv("FINDIG_SETTINGS_MODULE", "no_such_project_xyz.settings")
    with pytest.raises(ImproperlyConfigured, match=r"no_such_project_xyz\.settings"):
        settings.DEBUG  # noqa: B018


def test_check_reports_invalid_values(make_project):
    make_project()
    with settings.override(
        INSTALLED_APPS="blog", WORKERS=0, DATABASE_URL="nowhere", PROXY_FIX=[1]
    ):
        problems = " | ".join(settings.check())
    assert "INSTALLED_APPS must be a list" in problems
    assert "WORKERS must be a positive integer" in problems
    assert "DATABASE_URL is not a database URL" in problems
    assert "PROXY_FIX must be a dict" in problems
