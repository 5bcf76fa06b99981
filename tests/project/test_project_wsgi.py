"""The WSGI application built from settings: routes, sessions, health."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Mapped, mapped_column
from werkzeug.test import Client

from findig.project import db
from findig.project.apps import apps
from findig.project.conf import ImproperlyConfigured, settings
from findig.project.wsgi import ProjectApp, get_wsgi_application


@pytest.fixture
def notes_project(make_project, notes_app):
    project = make_project(apps={"notes": notes_app})
    apps.import_models()
    db.metadata.create_all(
        db.get_engine(), tables=[db.metadata.tables[f"notes_{project.suffix}"]]
    )
    return project


def _rows(project) -> list[str]:
    with db.session_scope() as session:
        return [
            row[0]
            for row in session.execute(text(f"SELECT text FROM notes_{project.suffix}"))
        ]


def test_app_is_assembled(notes_project):
    app = get_wsgi_application()
    assert isinstance(app, ProjectApp)
    client = Client(app)
    listing = client.get("/").json
    urls = {entry["url"] for entry in listing}
    assert urls == {"/", "/notes/", "/notes/<int:id>", "/health"}
    (config,) = apps.get_app_configs()
    # ready() was called with the application.
    assert type(config).ready_calls[-1] is app


def test_request_changes_are_committed(notes_project):
    client = Client(get_wsgi_application())
    response = client.post("/notes/", json={"text": "hello"})
    assert response.status_code == 201
    assert response.headers["Location"] == "http://localhost/notes/1"
    assert _rows(notes_project) == ["hello"]
    assert client.get("/notes/1").json == {"id": 1, "text": "hello"}


def test_database_error_in_resource_is_500_and_rolled_back(notes_project):
    app = get_wsgi_application()

    @app.route("/pair")
    @app.resource
    def pair():
        return {}

    @pair.model("write")
    def write_pair(data):
        from findig.context import ctx

        session = ctx.sqla_session
        for value in data["texts"]:
            session.execute(
                text(f"INSERT INTO notes_{notes_project.suffix} (text) VALUES (:t)"),
                {"t": value},
            )

    client = Client(app)
    response = client.put("/pair", json={"texts": ["a", "a"]})
    # The duplicate fails at once here (an execute, not the commit), which
    # is a plain database error: a 500 that reveals nothing.
    assert response.status_code == 500
    assert "INSERT" not in response.get_data(as_text=True)
    assert _rows(notes_project) == []


def test_deferred_commit_failure_is_a_conflict(notes_project):
    """A constraint that fails only at COMMIT answers 409, rolled back."""
    app = get_wsgi_application()

    @app.route("/orphan")
    @app.resource
    def orphan():
        return {}

    @orphan.model("write")
    def write_orphan(data):
        from findig.context import ctx

        session = ctx.sqla_session
        session.execute(text("PRAGMA defer_foreign_keys=ON"))
        session.execute(
            text(f"INSERT INTO notes_{notes_project.suffix} (text) VALUES ('kept?')")
        )
        session.execute(
            text(f"INSERT INTO child_{notes_project.suffix} VALUES (1, 999)")
        )

    with db.get_engine().begin() as connection:
        connection.execute(
            text(
                f"CREATE TABLE child_{notes_project.suffix} (id INTEGER PRIMARY KEY, "
                f"note_id INTEGER REFERENCES notes_{notes_project.suffix}(id) "
                "DEFERRABLE INITIALLY DEFERRED)"
            )
        )
    client = Client(app)
    response = client.put("/orphan", json={})
    assert response.status_code == 409
    assert "nothing was saved" in response.json["message"]
    assert _rows(notes_project) == []


def test_failed_resource_rolls_back(notes_project):
    app = get_wsgi_application()

    @app.route("/fail")
    @app.resource
    def fail():
        return {}

    @fail.model("write")
    def write_fail(data):
        from findig.context import ctx

        ctx.sqla_session.execute(
            text(f"INSERT INTO notes_{notes_project.suffix} (text) VALUES ('x')")
        )
        raise LookupError("gone")

    client = Client(app)
    assert client.put("/fail", json={}).status_code == 404
    assert _rows(notes_project) == []


def test_health(notes_project):
    client = Client(get_wsgi_application())
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json == {"status": "ok"}
    assert client.head("/health").status_code == 200


def test_health_when_the_database_is_down(notes_project, tmp_path):
    with settings.override(DATABASE_URL=f"sqlite:///{tmp_path}/missing/dir/db.sqlite3"):
        client = Client(get_wsgi_application())
        response = client.get("/health")
    assert response.status_code == 503
    assert response.json["status"] == "unavailable"


def test_health_url_setting(notes_project):
    with settings.override(HEALTH_URL="/-/ping", AUTOLIST=False):
        client = Client(get_wsgi_application())
    assert client.get("/-/ping").status_code == 200
    assert client.get("/health").status_code == 404
    assert client.get("/").status_code == 404


def test_allowed_hosts(notes_project):
    with settings.override(ALLOWED_HOSTS=["api.example.com", ".example.org"]):
        client = Client(get_wsgi_application())
    assert (
        client.get("/health", base_url="http://api.example.com:8000").status_code == 200
    )
    assert client.get("/health", base_url="http://x.example.org").status_code == 200
    response = client.get("/health", base_url="http://evil.example.com")
    assert response.status_code == 400
    assert response.json == {"message": "The Host header is not allowed."}


def test_proxy_fix(notes_project):
    with settings.override(PROXY_FIX={"x_proto": 1, "x_host": 1}):
        client = Client(get_wsgi_application())
    response = client.post(
        "/notes/",
        json={"text": "proxied"},
        headers={"X-Forwarded-Proto": "https", "X-Forwarded-Host": "localhost"},
    )
    assert response.headers["Location"] == "https://localhost/notes/1"


def test_invalid_settings_refuse_to_build(notes_project):
    with (
        settings.override(SECRET_KEY=""),
        pytest.raises(ImproperlyConfigured, match="SECRET_KEY"),
    ):
        get_wsgi_application()
    with settings.override(SECRET_KEY=""):
        # Introspection commands build it anyway.
        assert isinstance(get_wsgi_application(check_settings=False), ProjectApp)


def test_session_scope_and_bind(notes_project):
    with db.session_scope() as session:
        session.execute(
            text(f"INSERT INTO notes_{notes_project.suffix} (text) VALUES ('a')")
        )
    with pytest.raises(RuntimeError), db.session_scope() as session:
        session.execute(
            text(f"INSERT INTO notes_{notes_project.suffix} (text) VALUES ('b')")
        )
        raise RuntimeError
    assert _rows(notes_project) == ["a"]
    engine = db.get_engine()
    assert engine is db.get_engine(settings.DATABASE_URL)
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 20000
        connection.rollback()
        outer = connection.begin()
        with db.bind_sessions(connection):
            client = Client(get_wsgi_application())
            assert client.post("/notes/", json={"text": "inside"}).status_code == 201
            assert db.get_sessionmaker().kw["bind"] is connection
        outer.rollback()
    assert _rows(notes_project) == ["a"]


def test_model_table_names():
    class HTTPLogEntryForTest(db.Model):
        id: Mapped[int] = mapped_column(primary_key=True)

    try:
        assert HTTPLogEntryForTest.__table__.name == "http_log_entry_for_test"
        fk = db.metadata.naming_convention["fk"]
        assert "%(referred_table_name)s" in fk
    finally:
        db.metadata.remove(HTTPLogEntryForTest.__table__)


def test_lazy_module_application(notes_project):
    import findig.project.wsgi as module

    module._application = None
    try:
        assert isinstance(module.application, ProjectApp)
        assert module.application is module.application
    finally:
        module._application = None
    with pytest.raises(AttributeError):
        module.nothing  # noqa: B018
