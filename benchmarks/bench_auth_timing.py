"""Do failed logins take the same time, whatever fails?

    python benchmarks/bench_auth_timing.py [--rounds N] [--via token|basic|bearer]

A project with ``findig.contrib.auth`` (a SQLite file in a temporary
folder, the production hashing defaults: argon2id, m=64 MiB, t=3, p=4) is
built in this process, and its WSGI application is called directly with
the failures of one way of logging in:

``--via token`` (``POST /auth/token``, answered 400 ``invalid_grant``) and
``--via basic`` (``GET /auth/me`` with Basic credentials, answered 401):

``unknown-user``   a user name nobody has;
``wrong-password`` an active user with a wrong password;
``inactive-user``  an inactive user with their right password.

``--via bearer`` (``GET /auth/me`` with a bearer token, answered 401):

``unknown-token``  a well-formed token whose prefix no token has;
``wrong-secret``   an existing token's prefix with another secret part.

These are the failures a client cannot tell apart without the timing, and
the ones compared. More paths are timed for reference: the successful
login; a malformed ``Authorization`` header (``malformed-header``: ``Basic``
with bad base64; ``malformed-token``: not a token's shape), refused before
any lookup (its client knows it sent garbage, and burning a password hash
for it would only help a denial of service); and a revoked or expired token
(``revoked-token``, ``expired-token``), whose answer names the reason: only
the token's holder gets there, and the timing tells nothing the body does
not.

The throttle is set out of the way. Rounds are interleaved (round *k* runs
the paths in an order rotated by *k*), one request per path and round; the
figure is the median over the rounds, and the report says whether the
compared failure paths' medians are within 5% of each other (the spread:
(max - min) / min), for the wall-clock medians and for the medians of the
process's CPU time. The default number of rounds is 30 for the password
paths (each verifies an argon2 hash) and 3,000 for the bearer paths (a
lookup and a SHA-256, well under a millisecond).
"""

from __future__ import annotations

import argparse
import base64
import io
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from werkzeug.test import EnvironBuilder

#: The failure paths compared, for each way of logging in.
FAILURES = {
    "token": ("unknown-user", "wrong-password", "inactive-user"),
    "basic": ("unknown-user", "wrong-password", "inactive-user"),
    "bearer": ("unknown-token", "wrong-secret"),
}
#: The paths timed for reference only.
REFERENCE = {
    "token": ("success",),
    "basic": ("malformed-header", "success"),
    "bearer": ("revoked-token", "expired-token", "malformed-token", "success"),
}
CREDENTIALS = {
    "unknown-user": ("nobody", "correct horse battery"),
    "wrong-password": ("alice", "incorrect horse battery"),
    "inactive-user": ("idle", "correct horse battery"),
    "success": ("alice", "correct horse battery"),
}


def _request(app: Any, via: str, authorization: str) -> Callable[[], int]:
    """A function that sends one request and returns its status.

    :param authorization: ``"user:password"`` for ``--via token``, else the
        ``Authorization`` header.
    """
    if via == "token":
        username, _, password = authorization.partition(":")
        builder = EnvironBuilder(
            method="POST",
            path="/auth/token",
            data={
                "grant_type": "password",
                "username": username,
                "password": password,
            },
        )
    else:
        builder = EnvironBuilder(
            path="/auth/me", headers=[("Authorization", authorization)]
        )
    environ = builder.get_environ()
    body = environ["wsgi.input"].read()
    status: list[int] = []

    def start_response(line: str, headers: Any, exc_info: Any = None) -> Any:
        status.append(int(line.split()[0]))
        return None

    def call() -> int:
        env = dict(environ)
        env["wsgi.input"] = io.BytesIO(body)
        result = app(env, start_response)
        try:
            for _ in result:
                pass
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        return status.pop()

    return call


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--via", choices=tuple(FAILURES), default="token")
    args = parser.parse_args(argv)
    rounds = args.rounds or (3000 if args.via == "bearer" else 30)

    from findig.project.conf import settings

    folder = tempfile.mkdtemp(prefix="findig-bench-auth-")
    url = f"sqlite:///{os.path.join(folder, 'bench.sqlite3')}"
    settings.configure(
        None,
        SECRET_KEY="bench-" + "x" * 40,
        INSTALLED_APPS=["findig.contrib.auth"],
        DATABASE_URL=url,
        ALLOWED_HOSTS=["localhost"],
        LOGIN_MAX_ATTEMPTS=10**9,
        LOGIN_MAX_ATTEMPTS_PER_ADDRESS=10**9,
        LOG_LEVEL="WARNING",
    )
    from findig.contrib.auth import store
    from findig.contrib.auth.conf import load_settings
    from findig.contrib.auth.hashing import get_hasher
    from findig.project.db import session_scope
    from findig.project.migrations import prepare_database
    from findig.project.wsgi import get_wsgi_application

    prepare_database(url)
    config = load_settings()
    hasher = get_hasher(
        config.password_schemes,
        config.password_hash_options,
        config.password_max_length,
    )
    with session_scope() as session:
        alice = store.create_user(
            session, "alice", "correct horse battery", hasher=hasher
        )
        store.create_user(
            session, "idle", "correct horse battery", hasher=hasher, is_active=False
        )
        tokens = {
            "success": store.create_token(session, alice)[0],
            "revoked-token": store.create_token(session, alice)[0],
            "expired-token": store.create_token(
                session, alice, lifetime=timedelta(seconds=-60)
            )[0],
        }
        store.revoke_token(session, tokens["revoked-token"])
    good = tokens["success"]
    # The same shape as a token, the prefix of none / of a real one.
    tokens["unknown-token"] = "Z" * store.TOKEN_PREFIX_LENGTH + good[10:]
    tokens["wrong-secret"] = good[:10] + "A" * (len(good) - 10)
    tokens["malformed-token"] = "not a token!"
    paths = (*FAILURES[args.via], *REFERENCE[args.via])
    if args.via == "bearer":
        headers = {key: f"Bearer {tokens[key]}" for key in paths}
    else:
        headers = {
            key: ":".join(CREDENTIALS[key])
            for key in paths
            if key != "malformed-header"
        }
        if args.via == "basic":
            headers = {
                key: "Basic " + base64.b64encode(value.encode()).decode()
                for key, value in headers.items()
            }
            headers["malformed-header"] = "Basic !!not-base64!!"
    app = get_wsgi_application()
    calls = {key: _request(app, args.via, headers[key]) for key in paths}
    expected_failure = 400 if args.via == "token" else 401
    for key, call in calls.items():  # warm-up, and a check of the answers
        status = call()
        want = 200 if key == "success" else expected_failure
        if status != want:
            print(f"{key}: expected {want}, got {status}", file=sys.stderr)
            return 2
    keys = list(calls)
    wall: dict[str, list[float]] = {key: [] for key in keys}
    cpu: dict[str, list[float]] = {key: [] for key in keys}
    load_before = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    started = time.perf_counter()
    for round_number in range(rounds):
        shift = round_number % len(keys)
        for key in keys[shift:] + keys[:shift]:
            call = calls[key]
            before, before_cpu = time.perf_counter(), time.process_time()
            call()
            cpu[key].append(time.process_time() - before_cpu)
            wall[key].append(time.perf_counter() - before)
    elapsed = time.perf_counter() - started
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"# Failed-login timing via {args.via} ({hasher.default_scheme}, defaults)")
    print()
    print(f"- Python {platform.python_version()}, {platform.platform()}")
    print(
        f"- {rounds} interleaved rounds, {elapsed:.1f} s, load average "
        f"{load_before:.2f} before, {load:.2f} after"
    )
    print()
    print("| Path | Wall median ms | Wall IQR ms | CPU median ms |")
    print("|---|---|---|---|")
    spreads = {}
    for label, times in (("wall-clock", wall), ("CPU", cpu)):
        medians = {key: statistics.median(v) * 1000 for key, v in times.items()}
        failures = [medians[key] for key in FAILURES[args.via]]
        spreads[label] = (max(failures) - min(failures)) / min(failures)
    for key in keys:
        quartiles = statistics.quantiles([t * 1000 for t in wall[key]], n=4)
        print(
            f"| {key} | {statistics.median(wall[key]) * 1000:.3f} | "
            f"{quartiles[2] - quartiles[0]:.3f} | "
            f"{statistics.median(cpu[key]) * 1000:.3f} |"
        )
    print()
    for label, spread in spreads.items():
        verdict = "within" if spread <= 0.05 else "NOT within"
        print(
            f"Failure paths, {label} medians: spread {spread * 100:.1f}% "
            f"((max - min) / min) — {verdict} 5% of each other."
        )
    print()
    print(
        "The CPU time (of every thread of this process) does not count the "
        "time other processes take the cores away; on a busy machine it is the "
        "steadier figure."
    )
    return 0 if spreads["wall-clock"] <= 0.05 else 1


if __name__ == "__main__":
    sys.exit(main())
