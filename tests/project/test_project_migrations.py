"""Migrations through the CLI, on SQLite and PostgreSQL: one branch per app,
a model change keeps the rows, downgrades, --check."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import inspect, text

from findig.project import db
from findig.project.migrations import pending_migrations, show_migrations

NOTE_WITH_COLOUR = """
from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from findig.project.db import Model


class Note{suffix}(Model):
    __tablename__ = "notes_{suffix}"

    id: Mapped[int] = mapped_column(primary_key=True)
    text: Mapped[str] = mapped_column(String(100), unique=True)
    colour: Mapped[str | None] = mapped_column(String(20))
"""


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/migrations.sqlite3"
    return request.getfixturevalue("postgres_url")


def _columns(table: str) -> list[str]:
    with db.get_engine().connect() as connection:
        return [c["name"] for c in inspect(connection).get_columns(table)]


def _tables() -> list[str]:
    with db.get_engine().connect() as connection:
        return inspect(connection).get_table_names()


def test_model_change_keeps_rows(make_project, notes_app, run_cli, database_url):
    project = make_project(apps={"notes": notes_app}, database_url=database_url)
    label = project.app_name("notes")
    table = f"notes_{project.suffix}"
    folder = project.root / label / "migrations"

    result = run_cli("makemigrations")
    assert result.exit_code == 0, result.output
    initial = folder / "0001_initial.py"
    source = initial.read_text()
    assert f"branch_labels: str | Sequence[str] | None = ('{label}',)" in source
    assert f"op.create_table('{table}'" in source
    assert "uq_notes_" in source  # the naming convention names constraints

    result = run_cli("migrate")
    assert result.exit_code == 0, result.output
    assert f"Applied {label} 0001_initial" in result.output
    with db.session_scope() as session:
        for word in ("alpha", "beta"):
            session.execute(
                text(f"INSERT INTO {table} (text) VALUES (:t)"), {"t": word}
            )

    # Change the model: a nullable column.
    project.write(
        f"{label}/models.py", NOTE_WITH_COLOUR.replace("{suffix}", project.suffix)
    )
    project.reload()

    result = run_cli("makemigrations", "--check")
    assert result.exit_code == 1
    assert f"{label}: add_column {table}.colour" in result.output

    result = run_cli("makemigrations", "-m", "add colour")
    assert result.exit_code == 0, result.output
    second = folder / "0002_add_colour.py"
    source = second.read_text()
    # Rendered in batch mode, so that it runs on SQLite too.
    assert "batch_alter_table" in source
    assert "branch_labels: str | Sequence[str] | None = None" in source
    assert run_cli("makemigrations", "--check").exit_code == 0

    assert [name for _, name in pending_migrations()] == ["0002_add_colour"]
    result = run_cli("migrate")
    assert result.exit_code == 0, result.output
    assert "colour" in _columns(table)
    with db.session_scope() as session:
        rows = session.execute(
            text(f"SELECT text, colour FROM {table} ORDER BY id")
        ).all()
    assert [tuple(r) for r in rows] == [("alpha", None), ("beta", None)]

    result = run_cli("showmigrations")
    assert re.search(r"\[X\] 0001_initial.*\n.*\[X\] 0002_add_colour", result.output)

    # Downgrade to the first revision: the column goes, the rows stay.
    result = run_cli("migrate", label, "0001")
    assert result.exit_code == 0, result.output
    assert f"Unapplied {label} 0002_add_colour" in result.output
    assert "colour" not in _columns(table)
    with db.session_scope() as session:
        assert session.execute(text(f"SELECT count(*) FROM {table}")).scalar() == 2
    assert [m.applied for m in show_migrations()[0].migrations] == [True, False]

    # Zero unapplies everything of the app; migrate brings it back.
    assert run_cli("migrate", label, "zero").exit_code == 0
    assert table not in _tables()
    assert run_cli("migrate", label).exit_code == 0
    assert "colour" in _columns(table)


def test_version_table_lives_in_the_test_schema(
    make_project, notes_app, run_cli, postgres_url
):
    project = make_project(apps={"notes": notes_app}, database_url=postgres_url)
    assert run_cli("makemigrations").exit_code == 0
    assert run_cli("migrate").exit_code == 0
    schema = re.search(r"search_path%3D(\w+)", postgres_url).group(1)
    with db.get_engine().connect() as connection:
        found = connection.execute(
            text(
                "SELECT table_schema FROM information_schema.tables "
                "WHERE table_name = 'alembic_version' AND table_schema = :s"
            ),
            {"s": schema},
        ).all()
        tables = connection.execute(
            text(
                "SELECT table_schema FROM information_schema.tables "
                "WHERE table_name = :t"
            ),
            {"t": f"notes_{project.suffix}"},
        ).all()
    assert found == [(schema,)]
    assert tables == [(schema,)]


AUTHORS = """
from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from findig.project.db import Model


class Author{suffix}(Model):
    __tablename__ = "authors_{suffix}"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
"""

BOOKS = """
from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from findig.project.db import Model


class Book{suffix}(Model):
    __tablename__ = "books_{suffix}"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(50))
    author_id: Mapped[int] = mapped_column(ForeignKey("authors_{suffix}.id"))
"""


def test_one_branch_per_app_with_dependencies(make_project, run_cli, tmp_path):
    project = make_project(
        apps={"books": {"models.py": BOOKS}, "authors": {"models.py": AUTHORS}}
    )
    books, authors = project.app_name("books"), project.app_name("authors")
    result = run_cli("makemigrations")
    assert result.exit_code == 0, result.output
    books_source = (project.root / books / "migrations" / "0001_initial.py").read_text()
    authors_source = (
        project.root / authors / "migrations" / "0001_initial.py"
    ).read_text()
    # Each app's revision holds its own tables only...
    assert f"create_table('books_{project.suffix}'" in books_source
    assert "authors_" not in books_source.split("def upgrade")[1].split("ForeignKey")[0]
    assert f"create_table('authors_{project.suffix}'" in authors_source
    # ... and the books depend on the authors' revision they refer to.
    authors_rev = re.search(r"^revision: str = '(\w+)'", authors_source, re.M).group(1)
    assert f"depends_on: str | Sequence[str] | None = '{authors_rev}'" in books_source

    result = run_cli("migrate", books)
    assert result.exit_code == 0, result.output
    # Migrating the books brought the authors' table first.
    assert {f"books_{project.suffix}", f"authors_{project.suffix}"} <= set(_tables())
    result = run_cli("showmigrations")
    assert books in result.output and authors in result.output
    assert "[ ]" not in result.output

    # A removed model: the app whose migrations created the table drops it.
    project.write(f"{books}/models.py", "")
    project.reload()
    result = run_cli("makemigrations", "-m", "no books")
    assert result.exit_code == 0, result.output
    dropped = (project.root / books / "migrations" / "0002_no_books.py").read_text()
    assert f"drop_table('books_{project.suffix}')" in dropped
    assert not (project.root / authors / "migrations" / "0002_no_books.py").exists()
    assert run_cli("migrate").exit_code == 0
    assert f"books_{project.suffix}" not in _tables()


def test_nothing_to_do(make_project, run_cli):
    make_project(apps={"empty": {}})
    result = run_cli("makemigrations")
    assert result.exit_code == 0
    assert "No changes detected." in result.output
    result = run_cli("showmigrations")
    assert "No app has migrations." in result.output
    assert run_cli("migrate").exit_code == 0


def test_errors_are_clear(make_project, notes_app, run_cli):
    project = make_project(apps={"notes": notes_app})
    result = run_cli("migrate", "nope")
    assert result.exit_code == 1
    assert "No installed app with label 'nope'" in result.output
    result = run_cli("migrate", project.app_name("notes"))
    assert result.exit_code == 1
    assert "has no migrations" in result.output
    assert run_cli("makemigrations").exit_code == 0
    result = run_cli("migrate", project.app_name("notes"), "0042")
    assert result.exit_code == 1
    assert "has no migration '0042'" in result.output
    result = run_cli("makemigrations", "--empty")
    assert result.exit_code == 1
    assert "Name the apps" in result.output


def test_empty_revision_and_fake(make_project, notes_app, run_cli):
    project = make_project(apps={"notes": notes_app})
    label = project.app_name("notes")
    assert run_cli("makemigrations").exit_code == 0
    result = run_cli("makemigrations", label, "--empty", "-m", "fill data")
    assert result.exit_code == 0, result.output
    assert (project.root / label / "migrations" / "0002_fill_data.py").exists()
    result = run_cli("migrate", "--fake")
    assert result.exit_code == 0, result.output
    # Recorded as applied, but nothing ran.
    assert pending_migrations() == []
    assert f"notes_{project.suffix}" not in _tables()


DECORATED = """
from datetime import datetime
from decimal import Decimal

from sqlalchemy import Numeric, String
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from findig.contrib.auth.models import UTCDateTime
from findig.project.db import Model


class Trimmed(TypeDecorator):
    impl = String
    cache_ok = True

    def process_bind_param(self, value, dialect):
        return None if value is None else value.strip()


class Money(TypeDecorator):
    impl = Numeric(12, 2)
    cache_ok = True


class Event{suffix}(Model):
    __tablename__ = "events_{suffix}"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    title: Mapped[str] = mapped_column(Trimmed(40))
    price: Mapped[Decimal | None] = mapped_column(Money())
"""


def test_type_decorators_render_as_their_implementation(
    make_project, run_cli, database_url
):
    # Imported before the app's models, so that the auth app's own tables
    # (defined by that module) are not taken for this app's.
    import findig.contrib.auth.models  # noqa: F401

    project = make_project(
        apps={"events": {"models.py": DECORATED}}, database_url=database_url
    )
    label = project.app_name("events")
    table = f"events_{project.suffix}"
    result = run_cli("makemigrations")
    assert result.exit_code == 0, result.output
    source = (project.root / label / "migrations" / "0001_initial.py").read_text()
    body = source.split("def upgrade")[1]
    # The columns' database types, with their arguments; never the
    # decorators' (module-qualified, unimported) names.
    assert "sa.Column('at', sa.DateTime(timezone=True), nullable=False)" in body
    assert "sa.Column('title', sa.String(length=40), nullable=False)" in body
    assert "sa.Column('price', sa.Numeric(precision=12, scale=2)" in body
    for name in ("UTCDateTime", "Trimmed", "Money", "findig.", f"{label}.models"):
        assert name not in body, name
    # The revision runs, and the models then match it.
    result = run_cli("migrate")
    assert result.exit_code == 0, result.output
    assert {"id", "at", "title", "price"} <= set(_columns(table))
    result = run_cli("makemigrations", "--check")
    assert result.exit_code == 0, result.output
