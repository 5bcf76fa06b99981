"""The store's parts: user names, scopes, hashing, tokens, settings, and
the app's migrations on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from passlib.hash import pbkdf2_sha256
from sqlalchemy import inspect, select

from findig.contrib.auth import store
from findig.contrib.auth.conf import get_setting, load_settings
from findig.contrib.auth.hashing import PasswordHasher, PasswordTooLong, get_hasher
from findig.contrib.auth.models import Token, User, utcnow
from findig.contrib.auth.validation import (
    InvalidScope,
    InvalidUsername,
    covers,
    format_scopes,
    normalize_username,
    parse_scopes,
)
from findig.project.conf import ImproperlyConfigured, settings

FAST = {"argon2__memory_cost": 1024, "argon2__rounds": 1, "argon2__parallelism": 1}


@pytest.fixture
def hasher() -> PasswordHasher:
    return get_hasher(["argon2", "bcrypt", "pbkdf2_sha256"], FAST, 1024)


def test_usernames():
    assert normalize_username("Alice") == "alice"
    assert normalize_username("\uff21LICE") == "alice"  # full-width
    assert normalize_username("Stra\u00dfe") == "strasse"
    assert normalize_username("jo\u0308rg") == normalize_username("J\u00d6RG")
    assert normalize_username("x" * 150) == "x" * 150
    for bad in ["", "   ", "a b", "a:b", "a\tb", "a\x00b", "x" * 151, "x" * 10_000]:
        with pytest.raises(InvalidUsername):
            normalize_username(bad)


def test_scopes():
    assert parse_scopes("tasks") == {"tasks+r"}
    assert parse_scopes("tasks+rd, user") == {"tasks+r", "tasks+d", "user+r"}
    assert parse_scopes(["a b", "c"]) == {"a+r", "b+r", "c+r"}
    assert format_scopes(parse_scopes("b+d a a/x+r b+c")) == "a+r b+cd"
    assert format_scopes(()) == ""
    for bad in ["x+R", "x+", "x//y", "+r", "x++r", "a+rz", "x" * 3000]:
        with pytest.raises(InvalidScope):
            parse_scopes(bad)
    with pytest.raises(InvalidScope):
        parse_scopes(" ".join(f"s{i}" for i in range(101)))
    with pytest.raises(InvalidScope, match="reserved"):
        from findig.tools.protector import scopeutil

        parse_scopes(list(scopeutil.ANY))
    assert covers(parse_scopes("user+r"), parse_scopes("user/emails+r"))
    assert not covers(parse_scopes("user+r"), parse_scopes("users+r"))
    assert not covers(parse_scopes("user/emails+crud"), parse_scopes("user+r"))
    assert covers(parse_scopes("a+r b+d"), parse_scopes("a b+d"))
    assert covers((), ())


def test_hasher(hasher):
    stored = hasher.hash("pässword")
    assert stored.startswith("$argon2id$")
    assert hasher.verify("pässword", stored) == (True, None)
    assert hasher.verify("password", stored) == (False, None)
    assert hasher.verify("pässword", None) == (False, None)
    assert hasher.verify("x", "not a hash") == (False, None)
    assert hasher.verify("x", "$argon2id$v=19$broken") == (False, None)
    legacy = pbkdf2_sha256.hash("old")
    ok, upgraded = hasher.verify("old", legacy)
    assert ok and upgraded and upgraded.startswith("$argon2id$")
    assert hasher.needs_update(legacy) and not hasher.needs_update(upgraded)
    with pytest.raises(PasswordTooLong):
        hasher.hash("x" * 1025)
    with pytest.raises(ValueError):
        hasher.hash("")
    assert hasher.too_long("é" * 513) and not hasher.too_long("é" * 512)
    assert "$" not in repr(hasher)


def test_bcrypt_as_default_scheme():
    hasher = PasswordHasher(["bcrypt", "argon2"], {"bcrypt__rounds": 4}, 1024)
    assert hasher.max_length == 72
    with pytest.raises(PasswordTooLong):
        hasher.hash("x" * 73)
    stored = hasher.hash("x" * 72)
    assert hasher.verify("x" * 72, stored) == (True, None)
    assert hasher.verify("x" * 72 + "y", stored) == (False, None)


def test_hasher_settings_are_checked():
    with pytest.raises(ImproperlyConfigured):
        PasswordHasher(["nonsense"])
    with pytest.raises(ImproperlyConfigured):
        PasswordHasher(["argon2"], {"argon2__nonsense": 1})


def test_settings_defaults_environment_and_checks(monkeypatch):
    with settings.override():
        config = load_settings()
        assert config.methods == ("bearer", "basic")
        assert config.password_schemes == ("argon2", "bcrypt", "pbkdf2_sha256")
        assert (config.max_attempts, config.window) == (5, 300)
        monkeypatch.setenv("FINDIG_LOGIN_MAX_ATTEMPTS", "9")
        monkeypatch.setenv("FINDIG_AUTH_METHODS", "basic")
        monkeypatch.setenv("FINDIG_PASSWORD_HASH_OPTIONS", '{"argon2__rounds": 2}')
        assert get_setting("LOGIN_MAX_ATTEMPTS") == 9
        config = load_settings()
        assert config.methods == ("basic",)
        assert config.password_hash_options == {"argon2__rounds": 2}
        monkeypatch.setenv("FINDIG_LOGIN_MAX_ATTEMPTS", "many")
        with pytest.raises(ImproperlyConfigured, match="FINDIG_LOGIN_MAX_ATTEMPTS"):
            load_settings()
        monkeypatch.delenv("FINDIG_LOGIN_MAX_ATTEMPTS")
        # An empty value makes the token lifetime None (until revoked).
        monkeypatch.setenv("FINDIG_AUTH_TOKEN_LIFETIME", "")
        assert load_settings().token_lifetime is None
        monkeypatch.setenv("FINDIG_AUTH_TOKEN_LIFETIME", "60")
        assert load_settings().token_lifetime == 60
        monkeypatch.delenv("FINDIG_AUTH_TOKEN_LIFETIME")
    for name, value in [
        ("AUTH_METHODS", ["digest"]),
        ("AUTH_METHODS", []),
        ("AUTH_METHODS", "bearer"),
        ("AUTH_REALM", 'a"b'),
        ("LOGIN_MAX_ATTEMPTS", 0),
        ("LOGIN_WINDOW", True),
        ("AUTH_TOKEN_LIFETIME", -5),
        ("PASSWORD_SCHEMES", []),
        ("PASSWORD_HASH_OPTIONS", "fast"),
        ("AUTH_PUBLIC_PATHS", "/health"),
    ]:
        with settings.override(**{name: value}):
            with pytest.raises(ImproperlyConfigured, match=name):
                load_settings()


def test_store_functions(any_project, hasher):
    with any_project.session() as session:
        user = store.create_user(session, "Alice", "pw", "things+crud", hasher=hasher)
        assert user.username == "alice"
        assert "pw" not in repr(user) and "$argon2" not in repr(user)
        with pytest.raises(store.UserExists):
            store.create_user(session, "ALICE", "pw", hasher=hasher)
        with pytest.raises(store.ScopeNotGranted):
            store.create_token(session, user, "admin")
        token, record = store.create_token(session, user, "things+r", 60)
        assert store.token_prefix(token) == record.prefix
        assert token not in repr(record) and record.token_hash not in repr(record)
        assert store.check_token(session, token).valid
        assert store.check_token(session, token + "x").reason == "unknown"
        assert store.check_token(session, "Q" + token[1:]).reason == "unknown"
        assert store.check_token(session, token[:10] + "A" * 43).reason == "unknown"
        expired, _ = store.create_token(session, user, None, timedelta(seconds=-1))
        assert store.check_token(session, expired).reason == "expired"
        assert store.revoke_token(session, token) is not None
        assert store.check_token(session, token).reason == "revoked"
        assert store.revoke_token(session, "nonsense") is None
        assert store.purge_tokens(session) == 2
        assert [u.username for u in store.list_users(session)] == ["alice"]
        with pytest.raises(store.UnknownUser):
            store.set_password(session, "bob", "x", hasher=hasher)
    with any_project.session() as session:
        stored = session.scalar(select(User))
        assert stored.created_at.tzinfo is not None
        assert abs((utcnow() - stored.created_at).total_seconds()) < 60
        assert session.scalar(select(Token)) is None


def test_migrations_up_and_down(any_project):
    from findig.project.migrations import (
        database_tables,
        makemigrations,
        migrate,
        show_migrations,
    )

    assert {"auth_user", "auth_token"} <= set(database_tables(any_project.url))
    [entry] = [e for e in show_migrations(any_project.url) if e.label == "auth"]
    assert [(m.name, m.applied) for m in entry.migrations] == [("0001_initial", True)]
    migrate("auth", "zero", url=any_project.url)
    assert not {"auth_user", "auth_token"} & set(database_tables(any_project.url))
    migrate("auth", url=any_project.url)
    from sqlalchemy import create_engine

    engine = create_engine(any_project.url)
    try:
        indexes = {i["name"]: i for i in inspect(engine).get_indexes("auth_token")}
        assert indexes["ix_auth_token_prefix"]["unique"]
    finally:
        engine.dispose()
    # The models and the migration agree (nothing to write).
    assert makemigrations(["auth"], check=True) == []
