"""``check``: is the project fit to run (and, with ``--deploy``, to deploy)?

A tool whose state lives in the memory of one process is found by the
duck-typed attribute ``findig_process_local`` (:data:`PROCESS_LOCAL_ATTRIBUTE`):
a true value (a string explains why) makes ``check --deploy`` warn when the
project runs several worker processes. A
:class:`~findig.tools.counter.Counter` whose ``storage`` is a
:class:`~findig.tools.counter.MemoryLog` (the default) counts as one.
``check`` looks for such tools among the objects whose bound methods (or
closures) are hooked into the application
(:func:`findig.project.discovery.attached_objects`), and the module-level
objects of every app's ``resources`` and ``apps`` modules.

``check --deploy`` also lists, as an ``INFO`` message (which no
``--fail-level`` counts), the URL rules of the resources anyone may use
without authenticating: those whose resource carries a true
``findig_public`` attribute (:data:`PUBLIC_ATTRIBUTE`, set at start-up by
:mod:`findig.contrib.auth`), so that a deployment can review them.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import click

from ..conf import ImproperlyConfigured, settings
from ..discovery import attached_objects

__all__ = [
    "PROCESS_LOCAL_ATTRIBUTE",
    "PUBLIC_ATTRIBUTE",
    "Message",
    "check",
    "run_checks",
]

#: The attribute marking a tool whose state is per process.
PROCESS_LOCAL_ATTRIBUTE = "findig_process_local"
#: The resource attribute marking a resource open to anyone (set at start-up
#: by :mod:`findig.contrib.auth`).
PUBLIC_ATTRIBUTE = "findig_public"

_WEAK_KEYS = frozenset(
    {"secret", "changeme", "change-me", "password", "dev", "development", "test"}
)


@dataclass
class Message:
    """One finding of :func:`run_checks`."""

    #: ``"ERROR"``, ``"WARNING"`` or ``"INFO"`` (never a failure).
    level: str
    #: What is wrong, naming the setting or app.
    text: str
    #: An identifier (``"settings"``, ``"apps"``, ``"migrations"``, ``"deploy"``).
    topic: str


def _memory_counter(obj: Any) -> str | None:
    """Why *obj*, a :class:`findig.tools.counter.Counter` storing its hits in
    a :class:`~findig.tools.counter.MemoryLog`, is per process."""
    module = sys.modules.get("findig.tools.counter")
    if module is None or not isinstance(obj, module.Counter):
        return None
    storage = getattr(obj, "storage", None)
    if isinstance(storage, type) and issubclass(storage, module.MemoryLog):
        return f"its hits are kept in a {storage.__name__}"
    return None


def _process_local_tools(app: Any, modules: Iterable[Any]) -> Iterator[tuple[Any, Any]]:
    for obj in attached_objects(app, modules):
        try:
            marked = vars(obj).get(PROCESS_LOCAL_ATTRIBUTE)
        except TypeError:
            marked = None
        if marked is None:
            marked = getattr(type(obj), PROCESS_LOCAL_ATTRIBUTE, None)
            if isinstance(marked, property):
                marked = getattr(obj, PROCESS_LOCAL_ATTRIBUTE, None)
        if not marked:
            marked = _memory_counter(obj)
        if marked:
            yield obj, marked


def _public_rules(app: Any) -> list[str]:
    """The URL rules of *app*'s public resources, in registration order."""
    rules: list[str] = []
    for route in app.routes:
        try:
            # vars(): a Resource answers unknown attributes with URL variables.
            public = vars(route.resource).get(PUBLIC_ATTRIBUTE)
        except TypeError:
            public = None
        if public and route.rule.rule not in rules:
            rules.append(route.rule.rule)
    return rules


def _secret_key_problems(key: str) -> list[str]:
    problems = []
    if len(key) < 32:
        problems.append("is shorter than 32 characters")
    if len(set(key)) < 10:
        problems.append("has fewer than 10 distinct characters")
    lowered = key.lower()
    if lowered in _WEAK_KEYS or lowered.startswith(("insecure", "django-insecure")):
        problems.append("is a well-known placeholder")
    return problems


def run_checks(deploy: bool = False, workers: int | None = None) -> list[Message]:
    """Check the settings, the apps, the database and its migrations.

    :param deploy: Also check what matters in production: ``DEBUG``, the
        ``SECRET_KEY``'s strength, ``ALLOWED_HOSTS``, SQLite or in-memory
        tools under several workers; and list the public resources (an
        ``INFO`` message).
    :param workers: The number of worker processes to assume (default the
        ``WORKERS`` setting).
    :returns: The findings: errors, then warnings, then information.
    """
    messages: list[Message] = []

    def error(text: str, topic: str) -> None:
        messages.append(Message("ERROR", text, topic))

    def warning(text: str, topic: str) -> None:
        messages.append(Message("WARNING", text, topic))

    if not settings.configured:
        error(
            "No settings module: set FINDIG_SETTINGS_MODULE, pass --settings, or "
            "run manage.py",
            "settings",
        )
        return messages
    try:
        for problem in settings.check():
            error(problem, "settings")
    except ImproperlyConfigured as exc:
        error(str(exc), "settings")
        return messages

    from ..apps import apps

    try:
        configs = apps.get_app_configs()
    except ImproperlyConfigured as exc:
        error(str(exc), "apps")
        return messages
    app_modules: list[Any] = []
    for config in configs:
        try:
            config.import_models()
            config.get_dispatcher()
            config.get_commands()
        except ImproperlyConfigured as exc:
            error(str(exc), "apps")
            continue
        for name in ("resources", "apps"):
            module = config.submodule(name)
            if module is not None:
                app_modules.append(module)
    if any(m.level == "ERROR" for m in messages):
        return messages

    application = None
    try:
        from ..wsgi import get_wsgi_application

        application = get_wsgi_application()
    except Exception as exc:
        error(f"The application cannot be built: {exc}", "apps")

    try:
        from ..migrations import pending_migrations, table_owners

        pending = pending_migrations()
    except Exception as exc:
        error(f"The database is unreachable: {exc}", "database")
    else:
        if pending:
            names = ", ".join(f"{label}.{name}" for label, name in pending)
            error(
                f"{len(pending)} migration(s) not applied ({names}): run "
                "`manage.py migrate`",
                "migrations",
            )
        with_tables = set(table_owners().values())
        for config in configs:
            if config.label in with_tables and config.migrations_dir is None:
                warning(
                    f"App {config.label!r} has models but no migrations: run "
                    f"`manage.py makemigrations {config.label}`",
                    "migrations",
                )

    if deploy:
        count = workers if workers is not None else settings.WORKERS
        if settings.DEBUG:
            warning("DEBUG is on: turn it off in production", "deploy")
        key = settings.get("SECRET_KEY") or ""
        if key:
            weak = _secret_key_problems(str(key))
            if weak:
                warning(
                    "SECRET_KEY " + " and ".join(weak) + ": generate one with "
                    "`python -c 'import secrets; print(secrets.token_urlsafe(50))'`",
                    "deploy",
                )
        elif settings.DEBUG:
            warning("SECRET_KEY is empty (only DEBUG lets it be)", "deploy")
        if "*" in settings.ALLOWED_HOSTS:
            warning("ALLOWED_HOSTS allows any host ('*')", "deploy")
        url = str(settings.DATABASE_URL)
        if url.startswith("sqlite") and count > 1:
            warning(
                f"SQLite with {count} worker processes: writes wait for each "
                "other and the database lives on one machine; use PostgreSQL "
                "(DATABASE_URL) to scale out",
                "deploy",
            )
        if application is not None and count > 1:
            for tool, reason in _process_local_tools(application, app_modules):
                why = f" ({reason})" if isinstance(reason, str) else ""
                warning(
                    f"{type(tool).__name__} keeps its state in each process{why}: "
                    f"with {count} workers each counts on its own; give it a "
                    "shared store (Redis, REDIS_URL)",
                    "deploy",
                )
        if application is not None:
            try:
                application.freeze()
            except Exception as exc:
                error(f"The application cannot start: {exc}", "apps")
            else:
                public = _public_rules(application)
                if public:
                    messages.append(
                        Message(
                            "INFO",
                            f"{len(public)} public route(s), open without "
                            "authentication: " + ", ".join(public),
                            "deploy",
                        )
                    )
    order = {"ERROR": 0, "WARNING": 1}
    messages.sort(key=lambda m: order.get(m.level, 2))
    return messages


@click.command()
@click.option("--deploy", is_flag=True, help="Also check production settings.")
@click.option(
    "--workers",
    type=int,
    help="Number of worker processes to assume (default: the WORKERS setting).",
)
@click.option(
    "--fail-level",
    type=click.Choice(["ERROR", "WARNING"], case_sensitive=False),
    default="ERROR",
    show_default=True,
    help="Exit with status 1 from this level on.",
)
def check(deploy: bool, workers: int | None, fail_level: str) -> None:
    """Check the settings, the apps, the database and its migrations.

    With --deploy, also flag DEBUG, a weak or missing SECRET_KEY, a
    permissive ALLOWED_HOSTS, and SQLite or in-memory counters under
    several worker processes, and list the public routes (INFO, which
    never fails the check).
    """
    messages = run_checks(deploy=deploy, workers=workers)
    colours = {"ERROR": "red", "WARNING": "yellow"}
    for message in messages:
        click.secho(
            f"{message.level} [{message.topic}] {message.text}",
            fg=colours.get(message.level),
        )
    levels = {"ERROR"} if fail_level.upper() == "ERROR" else {"ERROR", "WARNING"}
    failed = [m for m in messages if m.level in levels]
    errors = sum(m.level == "ERROR" for m in messages)
    warnings = sum(m.level == "WARNING" for m in messages)
    if not errors and not warnings:
        click.echo("System check: no issues.")
    else:
        click.echo(f"System check: {errors} error(s), {warnings} warning(s).")
    if failed:
        raise SystemExit(1)
