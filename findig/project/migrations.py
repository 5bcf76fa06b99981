"""Database migrations: Alembic configured in code, one branch per app.

This module requires SQLAlchemy and Alembic (``pip install
"findig[project]"``). No ``alembic.ini`` is needed: the Alembic
configuration is built from the settings and the app registry.

- Each installed app with a ``migrations/`` folder is one Alembic *version
  location* and one *branch*, whose branch label is the app's ``label``
  (set on the app's first revision: ``branch_labels = ("<label>",)``).
  Revision files are named ``NNNN_<slug>.py``; a revision that creates a
  foreign key to another app's table ``depends_on`` that app's head.
- Every revision is rendered in batch mode (``op.batch_alter_table``), so
  migrations written on one database run on the others: on SQLite, batch
  operations rebuild tables (foreign key checks are off while migrating);
  on PostgreSQL they are plain ``ALTER TABLE`` statements.
- The version table (``alembic_version``, one row per applied branch head)
  lives in the connection's default schema (on PostgreSQL, the first schema
  of the ``search_path``).
- A column whose type is a :class:`~sqlalchemy.types.TypeDecorator` (such
  as :class:`findig.contrib.auth.models.UTCDateTime`) is rendered as the
  type it decorates, with its arguments (``sa.DateTime(timezone=True)``):
  a revision never imports the project's code, which may change or go.
- :func:`makemigrations` compares the models with a *scratch* database
  (a temporary SQLite file, or a temporary PostgreSQL schema) built by
  applying every migration, so it needs neither an up-to-date database
  nor any change to it.

Tables are attributed to apps by the module of their mapped class (the
longest installed app path containing it), else by ``table.info
["app_label"]``, else by the app whose models module defined them; tables
that are in the database but no longer in the models belong to the app
whose migrations create them.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import Script, ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import event, inspect
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import NullPool
from sqlalchemy.types import TypeDecorator

from .apps import AppConfig, apps
from .conf import ImproperlyConfigured, settings
from .db import create_project_engine, metadata

__all__ = [
    "AppMigrations",
    "MigrationError",
    "MigrationInfo",
    "alembic_config",
    "database_tables",
    "makemigrations",
    "migrate",
    "pending_migrations",
    "prepare_database",
    "run_environment",
    "show_migrations",
    "table_owners",
]

logger = logging.getLogger("findig.project.migrations")

_SCRIPT_LOCATION = Path(__file__).resolve().parent / "templates" / "migrations"
_CREATE_TABLE = re.compile(r"create_table\(\s*['\"]([^'\"]+)['\"]")
_NUMBERED = re.compile(r"^(\d{4})_")


class MigrationError(ImproperlyConfigured):
    """A migration command cannot do what it was asked (an unknown app or
    revision, models that differ from the migrations under ``--check``...)."""


@dataclass
class MigrationInfo:
    """One revision of an app, for :func:`show_migrations`."""

    #: The Alembic revision id.
    revision: str
    #: The file name without ``.py`` (``0001_initial``).
    name: str
    #: The revision's message.
    message: str
    #: Whether the database has it applied.
    applied: bool


@dataclass
class AppMigrations:
    """The revisions of one app, oldest first."""

    label: str
    migrations: list[MigrationInfo] = field(default_factory=list)


# -- configuration -------------------------------------------------------------


def _migration_apps() -> list[AppConfig]:
    return [c for c in apps.get_app_configs() if c.migrations_dir is not None]


def alembic_config(
    connection: Connection | None = None, extra_locations: Sequence[Path] = ()
) -> Config:
    """Build the Alembic configuration of the project, in code.

    :param connection: The connection migrations run on (passed to the
        environment as ``config.attributes["connection"]``).
    :param extra_locations: Version folders to add (a new app's folder).
    """
    config = Config()
    config.set_main_option("script_location", str(_SCRIPT_LOCATION))
    config.set_main_option("path_separator", "os")
    locations = [str(c.migrations_dir) for c in _migration_apps()]
    locations += [str(p) for p in extra_locations if str(p) not in locations]
    if locations:
        config.set_main_option("version_locations", os.pathsep.join(locations))
    else:
        # No app has migrations: point at an empty folder of our own.
        config.set_main_option("version_locations", str(_SCRIPT_LOCATION / "none"))
    config.attributes["connection"] = connection
    config.attributes["target_metadata"] = metadata
    return config


def _script(config: Config) -> ScriptDirectory:
    return ScriptDirectory.from_config(config)


def _migration_engine(url: str | None = None) -> Engine:
    return create_project_engine(
        url or settings.DATABASE_URL, foreign_keys=False, poolclass=NullPool
    )


@contextlib.contextmanager
def _connect(url: str | None = None) -> Iterator[Connection]:
    engine = _migration_engine(url)
    try:
        with engine.connect() as connection:
            yield connection
    finally:
        engine.dispose()


def run_environment() -> None:
    """Run migrations inside Alembic's environment (called by the ``env.py``
    Findig ships; nothing happens when that file is merely imported).

    The connection, metadata and options come from ``config.attributes``.
    """
    from alembic import context

    try:
        offline = context.is_offline_mode()
    except NameError:
        return  # imported outside Alembic (by a test collector, say)
    config = context.config
    attributes = config.attributes
    options: dict[str, Any] = {
        "target_metadata": attributes.get("target_metadata", metadata),
        "render_as_batch": True,
        "compare_type": True,
    }
    # Decorated column types are written as the types they decorate.
    options["render_item"] = _render_item
    for name in ("include_object", "on_version_apply"):
        if attributes.get(name) is not None:
            options[name] = attributes[name]
    if offline:
        context.configure(
            url=attributes.get("url") or settings.DATABASE_URL,
            literal_binds=True,
            **options,
        )
        with context.begin_transaction():
            context.run_migrations()
        return
    connection: Connection | None = attributes.get("connection")
    if connection is None:
        with _connect() as connection:
            context.configure(connection=connection, **options)
            with context.begin_transaction():
                context.run_migrations()
        return
    context.configure(connection=connection, **options)
    with context.begin_transaction():
        context.run_migrations()
    if connection.in_transaction():
        connection.commit()


def _render_item(kind: str, obj: Any, autogen_context: Any) -> str | bool:
    """Alembic's ``render_item`` hook: a column type that is a
    :class:`~sqlalchemy.types.TypeDecorator` is rendered as its ``impl``
    type (its arguments included); anything else as Alembic would (False).

    Alembic would otherwise write the decorator's qualified name
    (``findig.contrib.auth.models.UTCDateTime(...)``), which the revision
    does not import.
    """
    if kind != "type" or not isinstance(obj, TypeDecorator):
        return False
    impl = obj.impl_instance
    try:
        # Alembic's own type rendering (dialect imports, variants, ARRAY...);
        # it calls this hook again for an impl that is itself decorated.
        from alembic.autogenerate.render import _repr_type
    except ImportError:  # pragma: no cover - a future Alembic without it
        module = type(impl).__module__
        if not module.startswith("sqlalchemy."):
            return False
        prefix = autogen_context.opts.get("sqlalchemy_module_prefix") or "sa."
        return f"{prefix}{impl!r}"
    return str(_repr_type(impl, autogen_context))


# -- tables and apps -----------------------------------------------------------


def table_owners() -> dict[str, str]:
    """Map every table of the models to the label of the app it belongs to.

    Imports the models of every installed app.
    """
    owners: dict[str, str] = {}
    for config in apps.get_app_configs():
        before = set(metadata.tables)
        config.import_models()
        for name in set(metadata.tables) - before:
            owners[name] = config.label
    from .db import Model

    for mapper in Model.registry.mappers:
        module = getattr(mapper.class_, "__module__", "")
        owner = apps.get_containing_app_config(module)
        if owner is not None:
            for table in mapper.tables:
                owners[table.name] = owner.label
    for name, table in metadata.tables.items():
        label = table.info.get("app_label")
        if label:
            owners[table.name] = label
            owners[name] = label
    return owners


def _migrated_tables(config: AppConfig) -> set[str]:
    folder = config.migrations_dir
    if folder is None:
        return set()
    found: set[str] = set()
    for path in folder.glob("*.py"):
        found.update(_CREATE_TABLE.findall(path.read_text(encoding="utf-8")))
    return found


def _include_for(label: str, owners: dict[str, str]) -> Callable[..., bool]:
    migrated = {c.label: _migrated_tables(c) for c in apps.get_app_configs()}

    def owner_of(name: str) -> str | None:
        if name in owners:
            return owners[name]
        for other, tables in migrated.items():
            if name in tables:
                return other
        return None

    def include_object(
        obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
    ) -> bool:
        if type_ == "table":
            return name is not None and owner_of(name) == label
        return True

    return include_object


# -- status ---------------------------------------------------------------------


def _current_heads(connection: Connection) -> tuple[str, ...]:
    context = MigrationContext.configure(connection)
    return tuple(context.get_current_heads())


def _applied(script: ScriptDirectory, heads: Sequence[str]) -> set[str]:
    if not heads:
        return set()
    return {
        rev.revision
        for rev in script.iterate_revisions(tuple(heads), "base")
        if rev is not None
    }


def _branch_scripts(script: ScriptDirectory, config: AppConfig) -> list[Script]:
    """The revisions in the app's folder, oldest first."""
    folder = config.migrations_dir
    if folder is None:
        return []
    mine = [
        rev
        for rev in script.walk_revisions("base", "heads")
        if Path(rev.path).resolve().parent == folder.resolve()
    ]
    mine.reverse()
    return mine


def _name(rev: Script) -> str:
    return Path(rev.path).stem


def show_migrations(url: str | None = None) -> list[AppMigrations]:
    """The revisions of every app with migrations, and whether each is
    applied to the database.

    :param url: The database; by default ``settings.DATABASE_URL``.
    """
    with _connect(url) as connection:
        heads = _current_heads(connection)
    config = alembic_config()
    script = _script(config)
    applied = _applied(script, heads)
    result = []
    for app in _migration_apps():
        entry = AppMigrations(app.label)
        for rev in _branch_scripts(script, app):
            entry.migrations.append(
                MigrationInfo(
                    rev.revision,
                    _name(rev),
                    rev.doc or "",
                    rev.revision in applied,
                )
            )
        result.append(entry)
    return result


def pending_migrations(url: str | None = None) -> list[tuple[str, str]]:
    """The migrations not applied yet, as ``(app label, name)`` pairs.

    :param url: The database; by default ``settings.DATABASE_URL``.
    """
    return [
        (entry.label, info.name)
        for entry in show_migrations(url)
        for info in entry.migrations
        if not info.applied
    ]


# -- migrate ----------------------------------------------------------------------


def _resolve(script: ScriptDirectory, app: AppConfig, name: str) -> Script:
    candidates = []
    for rev in _branch_scripts(script, app):
        stem = _name(rev)
        if name in (rev.revision, stem) or (
            len(name) >= 4 and (rev.revision.startswith(name) or stem.startswith(name))
        ):
            candidates.append(rev)
    if not candidates:
        raise MigrationError(f"App {app.label!r} has no migration {name!r}")
    if len(candidates) > 1:
        names = ", ".join(_name(c) for c in candidates)
        raise MigrationError(f"{name!r} is ambiguous in app {app.label!r}: {names}")
    return candidates[0]


def migrate(
    app_label: str | None = None,
    revision: str | None = None,
    *,
    fake: bool = False,
    url: str | None = None,
    report: Callable[[str], None] | None = None,
) -> None:
    """Bring the database schema to the wanted state.

    :param app_label: Migrate only this app (its branch); by default every
        app to its latest revision.
    :param revision: With an app: the revision to reach, upgrading or
        downgrading as needed: a revision id (or a unique prefix of at
        least 4 characters), a file name (``0002_add_colour``, or its number
        ``0002``), or ``zero`` to unapply all the app's migrations.
    :param fake: Record the revisions as applied (or unapplied) without
        running them (``alembic stamp``).
    :param url: The database; by default ``settings.DATABASE_URL``.
    :param report: Called with a line for each revision applied.
    :raises MigrationError: for an unknown app or revision.
    """
    config = alembic_config()
    script = _script(config)
    if revision is not None and app_label is None:
        raise MigrationError("Name the app whose revision to migrate to")
    with _connect(url) as connection:
        config.attributes["connection"] = connection
        if report is not None:
            config.attributes["on_version_apply"] = _reporter(report)
        heads = _current_heads(connection)
        applied = _applied(script, heads)
        if app_label is None:
            _run(config, "upgrade", "heads", fake)
            _check_foreign_keys(connection)
            return
        try:
            app = apps.get_app_config(app_label)
        except LookupError as exc:
            raise MigrationError(str(exc)) from None
        branch = _branch_scripts(script, app)
        if not branch:
            raise MigrationError(f"App {app.label!r} has no migrations")
        label = app.label
        if revision is None:
            _run(config, "upgrade", f"{label}@head", fake)
        elif revision == "zero":
            if any(rev.revision in applied for rev in branch):
                _run(config, "downgrade", f"{label}@base", fake)
        else:
            target = _resolve(script, app, revision)
            if target.revision in applied:
                newer_applied = [
                    rev
                    for rev in branch[branch.index(target) + 1 :]
                    if rev.revision in applied
                ]
                if newer_applied:
                    _run(config, "downgrade", target.revision, fake)
            else:
                _run(config, "upgrade", target.revision, fake)
        _check_foreign_keys(connection)


def _run(config: Config, action: str, target: str, fake: bool) -> None:
    try:
        if fake:
            command.stamp(config, target)
        elif action == "upgrade":
            command.upgrade(config, target)
        else:
            command.downgrade(config, target)
    except CommandError as exc:
        raise MigrationError(str(exc)) from exc


def _reporter(report: Callable[[str], None]) -> Callable[..., None]:
    folders = {str(c.migrations_dir): c.label for c in _migration_apps()}

    def on_version_apply(*, step: Any, **kw: Any) -> None:
        # For an upgrade and a downgrade alike, ``up_revision`` is the
        # revision applied or unapplied.
        revision = step.up_revision
        path = getattr(revision, "path", None)
        name = _name(revision) if path else "?"
        label = folders.get(str(Path(path).resolve().parent), "") if path else ""
        verb = "Applied" if step.is_upgrade else "Unapplied"
        report(f"  {verb} {label} {name} ({step.up_revision_id})".replace("  (", " ("))

    return on_version_apply


def _check_foreign_keys(connection: Connection) -> None:
    if connection.dialect.name != "sqlite":
        return
    problems = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    if problems:
        tables = sorted({str(row[0]) for row in problems})
        raise MigrationError(
            "After migrating, rows of these tables reference missing rows: "
            + ", ".join(tables)
        )


def prepare_database(url: str, create_unmigrated: bool = True) -> None:
    """Migrate the database at *url* to every app's latest revision and,
    with *create_unmigrated*, create the tables of apps that have models
    but no migrations folder (how test databases are made).

    :param url: A SQLAlchemy database URL.
    :param create_unmigrated: Create those tables directly.
    """
    if _migration_apps():
        migrate(url=url)
    if create_unmigrated:
        owners = table_owners()
        migrated = {c.label for c in _migration_apps()}
        tables = [
            table
            for name, table in metadata.tables.items()
            if owners.get(name) not in migrated
        ]
        if tables:
            engine = create_project_engine(url, poolclass=NullPool)
            try:
                metadata.create_all(engine, tables=tables)
            finally:
                engine.dispose()


# -- makemigrations ------------------------------------------------------------


@contextlib.contextmanager
def _scratch_database() -> Iterator[Connection]:
    """A connection to an empty database of the project's kind."""
    url = settings.DATABASE_URL
    engine = _migration_engine(url)
    dialect = engine.dialect.name
    if dialect == "sqlite":
        engine.dispose()
        folder = tempfile.mkdtemp(prefix="findig-scratch-")
        engine = _migration_engine(f"sqlite:///{folder}/scratch.sqlite3")
        try:
            with engine.connect() as connection:
                yield connection
        finally:
            engine.dispose()
            shutil.rmtree(folder, ignore_errors=True)
        return
    if dialect == "postgresql":
        schema = f"findig_scratch_{uuid.uuid4().hex[:12]}"

        @event.listens_for(engine, "connect")
        def set_path(dbapi_connection: Any, record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute(f'SET search_path TO "{schema}"')
            cursor.close()
            dbapi_connection.commit()

        with engine.connect() as admin:
            admin.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
            admin.commit()
        try:
            with engine.connect() as connection:
                yield connection
        finally:
            with engine.connect() as admin:
                admin.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
                admin.commit()
            engine.dispose()
        return
    # Other databases: compare with the project's database itself, which
    # must then be up to date.
    try:
        with engine.connect() as connection:
            yield connection
    finally:
        engine.dispose()


def _next_number(folder: Path) -> int:
    numbers = [
        int(m.group(1)) for p in folder.glob("*.py") if (m := _NUMBERED.match(p.name))
    ]
    return max(numbers, default=0) + 1


def _slug_message(message: str | None, number: int) -> str:
    if message:
        return message
    return "initial" if number == 1 else "auto"


def _referenced_tables(ops: Any) -> set[str]:
    """The tables the foreign keys created by *ops* refer to."""
    from alembic.operations import ops as alembic_ops

    found: set[str] = set()

    def visit(op: Any) -> None:
        if isinstance(op, alembic_ops.CreateTableOp):
            for column in op.columns:
                for fk in getattr(column, "foreign_keys", ()):
                    found.add(fk.target_fullname.split(".")[-2])
                if hasattr(column, "elements"):  # a ForeignKeyConstraint
                    for element in column.elements:
                        found.add(element.target_fullname.split(".")[-2])
        elif isinstance(op, alembic_ops.AddColumnOp):
            for fk in op.column.foreign_keys:
                found.add(fk.target_fullname.split(".")[-2])
        elif isinstance(op, alembic_ops.CreateForeignKeyOp):
            found.add(op.referent_table)
        for child in getattr(op, "ops", ()):
            visit(child)

    visit(ops)
    return found


def _diffs(connection: Connection, include: Callable[..., bool]) -> list[Any]:
    from alembic.autogenerate import compare_metadata

    context = MigrationContext.configure(
        connection,
        opts={
            "include_object": include,
            "compare_type": True,
            "target_metadata": metadata,
        },
    )
    return list(compare_metadata(context, metadata))


def makemigrations(
    labels: Sequence[str] = (),
    message: str | None = None,
    *,
    check: bool = False,
    empty: bool = False,
    report: Callable[[str], None] | None = None,
) -> list[Path]:
    """Write a revision for each app whose models differ from its migrations.

    :param labels: The apps to consider; by default every app with models
        or migrations.
    :param message: The revision message (and file name slug).
    :param check: Write nothing; raise :class:`MigrationError` listing the
        differences if there are any.
    :param empty: Write an empty revision for each app named (for data
        migrations).
    :param report: Called with a line per app.
    :returns: The paths of the files written.
    :raises MigrationError: for an unknown app, or (with *check*) when the
        models and the migrations differ.
    """
    say = report or (lambda line: None)
    owners = table_owners()
    try:
        chosen = [apps.get_app_config(label) for label in labels]
    except LookupError as exc:
        raise MigrationError(str(exc)) from None
    if not chosen:
        with_tables = set(owners.values())
        chosen = [
            c
            for c in apps.get_app_configs()
            if c.label in with_tables or c.migrations_dir is not None
        ]
    if empty and not labels:
        raise MigrationError("Name the apps to write an empty revision for")
    chosen = _dependency_order(chosen, owners)
    written: list[Path] = []
    differences: list[str] = []
    with _scratch_database() as connection:
        for app in chosen:
            config = alembic_config(connection)
            _upgrade_scratch(config)
            include = _include_for(app.label, owners)
            if check:
                diffs = _diffs(connection, include)
                if diffs:
                    differences.append(f"{app.label}: " + _describe(diffs))
                else:
                    say(f"{app.label}: no changes")
                continue
            path = _write_revision(app, config, include, owners, message, empty)
            if path is None:
                say(f"{app.label}: no changes")
            else:
                written.append(path)
                say(f"{app.label}: wrote {path}")
    if differences:
        raise MigrationError(
            "The models differ from the migrations (run makemigrations):\n  "
            + "\n  ".join(differences)
        )
    return written


def _dependency_order(
    chosen: list[AppConfig], owners: dict[str, str]
) -> list[AppConfig]:
    """*chosen* sorted so that an app comes after the apps its tables refer
    to (so that its revision can depend on theirs)."""
    needs: dict[str, set[str]] = {app.label: set() for app in chosen}
    for name, table in metadata.tables.items():
        label = owners.get(name)
        if label not in needs:
            continue
        for fk in table.foreign_keys:
            other = owners.get(fk.target_fullname.rsplit(".", 1)[0])
            if other and other != label and other in needs:
                needs[label].add(other)
    ordered: list[AppConfig] = []
    done: set[str] = set()
    pending = list(chosen)
    while pending:
        for app in pending:
            if needs[app.label] <= done:
                break
        else:  # a cycle: keep the settings' order for the rest
            app = pending[0]
        pending.remove(app)
        ordered.append(app)
        done.add(app.label)
    return ordered


def _upgrade_scratch(config: Config) -> None:
    if not _migration_apps():
        return
    try:
        command.upgrade(config, "heads")
    except CommandError as exc:
        raise MigrationError(str(exc)) from exc


def _describe(diffs: list[Any]) -> str:
    parts = []
    for diff in diffs:
        if isinstance(diff, tuple) and diff and isinstance(diff[0], str):
            kind = diff[0]
            target = diff[1]
            what = getattr(target, "name", None) or ""
            table = getattr(getattr(target, "table", None), "name", None)
            if kind in ("add_column", "remove_column"):
                what = f"{diff[2]}.{diff[3].name}"
            elif table:
                what = f"{table}.{what}" if what else table
            parts.append(f"{kind} {what}".strip())
        elif isinstance(diff, list) and diff:
            first = diff[0]
            parts.append(f"{first[0]} {first[2]}.{first[3]}")
        else:
            parts.append(str(diff))
    return ", ".join(parts)


def _write_revision(
    app: AppConfig,
    config: Config,
    include: Callable[..., bool],
    owners: dict[str, str],
    message: str | None,
    empty: bool,
) -> Path | None:
    folder = app.path / "migrations"
    new_branch = app.migrations_dir is None or not _branch_scripts(_script(config), app)
    folder.mkdir(exist_ok=True)
    config = alembic_config(config.attributes["connection"], extra_locations=[folder])
    config.attributes["include_object"] = include
    number = _next_number(folder)
    config.set_main_option("file_template", f"{number:04d}_%%(slug)s")
    script = _script(config)
    label = app.label

    def directives(context: Any, revision: Any, generated: list[Any]) -> None:
        if not generated:
            return
        migration = generated[0]
        if not empty and migration.upgrade_ops.is_empty():
            generated[:] = []
            return
        others = set()
        for table in _referenced_tables(migration.upgrade_ops):
            owner = owners.get(table)
            if owner and owner != label:
                others.add(owner)
        depends = []
        for other in sorted(others):
            other_app = apps.get_app_config(other)
            depends += [
                rev.revision
                for rev in _branch_scripts(script, other_app)
                if rev.revision in script.get_heads()
            ]
        if depends:
            migration.depends_on = tuple(depends)

    try:
        result = command.revision(
            config,
            message=_slug_message(message, number),
            autogenerate=not empty,
            head=f"{label}@head" if not new_branch else "base",
            branch_label=label if new_branch else None,
            version_path=str(folder),
            process_revision_directives=directives,
        )
    except CommandError as exc:
        raise MigrationError(f"App {label!r}: {exc}") from exc
    scripts = result if isinstance(result, list) else [result]
    paths = [Path(s.path) for s in scripts if s is not None]
    return paths[0] if paths else None


def database_tables(url: str | None = None) -> list[str]:
    """The names of the tables in the database (default schema)."""
    with _connect(url) as connection:
        return sorted(inspect(connection).get_table_names())
