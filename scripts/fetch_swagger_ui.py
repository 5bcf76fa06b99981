#!/usr/bin/env python3
"""Refresh the Swagger UI assets vendored in ``findig/tools/openapi_ui/``.

The interactive API page of :class:`findig.tools.openapi.OpenAPI` loads
Swagger UI from files shipped inside the package (never from a CDN). This
script fetches the pinned ``swagger-ui-dist`` release from the npm registry
with ``npm pack`` (so npm's own registry configuration applies), checks the
tarball's integrity and the SHA-256 of every file it vendors, and writes
them next to Findig's own initializer script.

Usage::

    python scripts/fetch_swagger_ui.py           # fetch and write the files
    python scripts/fetch_swagger_ui.py --check   # verify the vendored files

To upgrade, change :data:`VERSION`, :data:`INTEGRITY` (``npm view
swagger-ui-dist@<version> dist.integrity``) and run the script with
``--update-hashes`` once, review the new hashes it prints, paste them into
:data:`FILES`, and run it again without options.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

#: The pinned release of the ``swagger-ui-dist`` package.
VERSION = "5.35.0"
#: The npm ``dist.integrity`` (SHA-512) of that release's tarball.
INTEGRITY = (
    "sha512-U06rpMtW9V3XPGOBeamTUSr0Z09jMX4IJuANpE/EZbAhw0G8CgwrzU4YmXkn/"
    "h0wCDNsXdGarTNNHC3sU8yVUQ=="
)
#: The files vendored from the tarball's ``package/`` folder, and their
#: SHA-256 digests.
FILES = {
    "swagger-ui-bundle.js": (
        "e6a898692f2d768e807c3ba4626068a69a2c5dd960dd6c76f3e4d3a3de180af2"
    ),
    "swagger-ui-bundle.js.LICENSE.txt": (
        "37eb6e7e59aed57b2c1acf076574b818ea07b74265717e0bd67b59e0baf9abbb"
    ),
    "swagger-ui.css": (
        "5ed08757e53da3e026d6cbecc61fe5d43585c9560b302d534ad56692519a273d"
    ),
    "favicon-16x16.png": (
        "af24ad604dd7b3bcda8f975ab973075f4a2f70a4087944a12f8ef8b63a3e07c2"
    ),
    "favicon-32x32.png": (
        "3ed612f41e050ca5e7000cad6f1cbe7e7da39f65fca99c02e99e6591056e5837"
    ),
    "LICENSE": "cfc7749b96f63bd31c3c42b5c471bf756814053e847c10f3eb003417bc523d30",
    "NOTICE": "0d20d1adef18aee3f40dd258172155521ce702ac445cb5f7b7d60ed32dad2fb2",
}
#: Written beside the files: which release they come from.
VERSION_FILE = "SWAGGER_UI_VERSION"

ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / "findig" / "tools" / "openapi_ui"


def sha256(data: bytes) -> str:
    """The hexadecimal SHA-256 digest of *data*."""
    return hashlib.sha256(data).hexdigest()


def check_integrity(tarball: bytes) -> None:
    """Raise SystemExit unless *tarball* matches :data:`INTEGRITY`."""
    algorithm, _, expected = INTEGRITY.partition("-")
    digest = base64.b64encode(hashlib.new(algorithm, tarball).digest()).decode()
    if digest != expected:
        raise SystemExit(
            f"swagger-ui-dist@{VERSION}: the tarball's {algorithm} is {digest}, "
            f"not the pinned {expected}; refusing to vendor it"
        )


def npm_pack() -> bytes:
    """Fetch the pinned tarball with ``npm pack`` and return its bytes."""
    npm = shutil.which("npm")
    if npm is None:
        raise SystemExit("npm is needed to fetch swagger-ui-dist (apt-get install npm)")
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [
                npm,
                "pack",
                f"swagger-ui-dist@{VERSION}",
                "--ignore-scripts",
                "--silent",
                "--pack-destination",
                tmp,
            ],
            check=True,
            stdout=subprocess.DEVNULL,
            timeout=300,
        )
        tarballs = list(Path(tmp).glob("swagger-ui-dist-*.tgz"))
        if len(tarballs) != 1:
            raise SystemExit(f"npm pack produced {tarballs!r}, not one tarball")
        return tarballs[0].read_bytes()


def extract(tarball: bytes, update_hashes: bool) -> dict[str, bytes]:
    """The vendored files from *tarball*, each checked against its digest."""
    found: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as archive:
        for name in FILES:
            member = archive.getmember(f"package/{name}")
            if not member.isfile():
                raise SystemExit(f"package/{name} is not a regular file")
            handle = archive.extractfile(member)
            assert handle is not None
            found[name] = handle.read()
    bad = []
    for name, data in found.items():
        digest = sha256(data)
        if update_hashes:
            print(f'    "{name}": "{digest}",')
        elif digest != FILES[name]:
            bad.append(f"{name}: {digest} (pinned {FILES[name]})")
    if bad:
        raise SystemExit("SHA-256 mismatch:\n  " + "\n  ".join(bad))
    return found


def check_vendored(target: Path = TARGET) -> list[str]:
    """Compare the vendored files with the pins; return the problems."""
    problems = []
    for name, expected in FILES.items():
        path = target / name
        if not path.is_file():
            problems.append(f"{name}: missing")
        elif sha256(path.read_bytes()) != expected:
            problems.append(f"{name}: SHA-256 differs from the pin")
    version = target / VERSION_FILE
    if not version.is_file() or version.read_text().strip() != VERSION:
        problems.append(f"{VERSION_FILE}: does not name {VERSION}")
    return problems


def main(argv: list[str] | None = None) -> int:
    """Run the script; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check", action="store_true", help="verify the vendored files only"
    )
    parser.add_argument(
        "--update-hashes",
        action="store_true",
        help="print the digests of a new release instead of checking them",
    )
    args = parser.parse_args(argv)
    if args.check:
        problems = check_vendored()
        for problem in problems:
            print(problem, file=sys.stderr)
        if not problems:
            print(f"swagger-ui-dist {VERSION}: {len(FILES)} files verified")
        return 1 if problems else 0
    tarball = npm_pack()
    check_integrity(tarball)
    files = extract(tarball, args.update_hashes)
    if args.update_hashes:
        return 0
    TARGET.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (TARGET / name).write_bytes(data)
    (TARGET / VERSION_FILE).write_text(VERSION + "\n")
    print(f"swagger-ui-dist {VERSION}: wrote {len(files)} files to {TARGET}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
