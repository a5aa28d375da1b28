"""Refresh or check the lock: ``uv.lock`` and the hashed requirement files made from it.

Run with the project's ``.venv`` (uv comes with the test extra)::

    .venv/bin/python requirements/refresh.py            # follow pyproject.toml, keep versions
    .venv/bin/python requirements/refresh.py --upgrade  # take today's newest allowed versions
    .venv/bin/python requirements/refresh.py --check    # exit 1 if anything is stale (CI)

``uv.lock`` is the one resolution of every environment (all platforms, all extras). The
files here are what pip installs with ``--require-hashes``; each is cut from ``uv.lock``
and has exact versions and the SHA-256 of every file PyPI serves for them:

- ``runtime.txt``: the engine, CLI and tray (the README's demo command);
- ``test.txt``: runtime + the test/dev tools (the README's test command, ``.ci/run``);
- ``windows-bundle.txt``: runtime + PyInstaller for Windows x64, CPython 3.11, with no
  environment markers left, so that ``pip download --platform win_amd64`` on any machine
  and ``pip install`` on Windows take the same wheels (``installer/build.py``);
- ``windows-test.txt``: the same for the test environment (the Windows lane of
  ``.ci/run``, which fetches the wheels on Linux and installs them under Wine).

Every file also holds the build backend (dependency group ``backend``), so that
``pip install --no-build-isolation -e .`` never fetches an unlocked setuptools.
After a change, the script prints what moved (``package old -> new``) for the review.
:func:`unlocked` tells how an environment differs from one of the files
(``installer/build.py`` refuses to bundle anything else).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import re
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
COMMAND = "requirements/refresh.py"
HEADER = (
    "# {name}: {what}.\n"
    "# Generated from uv.lock by {command}; do not edit. Install with\n"
    "#   pip install --require-hashes -r requirements/{name}\n"
)
#: Each exported file: what it is for, and the arguments of ``uv export`` that cut it.
EXPORTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "runtime.txt": ("the engine, CLI and tray, on any platform", ()),
    "test.txt": ("runtime + test and development tools, on any platform", ("--extra", "test")),
}
#: The Windows files: what each is for, and the extras of ``uv export`` that cut it.
WINDOWS: dict[str, tuple[str, tuple[str, ...]]] = {
    "windows-bundle.txt": (
        "runtime + PyInstaller for the Windows bundle (win_amd64, CPython 3.11)",
        ("--extra", "build"),
    ),
    "windows-test.txt": (
        "runtime + test tools for the Windows lane (win_amd64, CPython 3.11)",
        ("--extra", "test"),
    ),
}
#: The Windows bundle's target: 64-bit Windows, the CPython that installer/build.py uses.
WINDOWS_TARGET = ("--python-platform", "x86_64-pc-windows-msvc", "--python-version", "3.11")


def uv(*args: str, stdin: str | None = None) -> str:
    """Run uv (ignoring any user or system uv.toml) in the project; its standard output."""
    from uv import find_uv_bin  # the test extra's; not needed to read the files

    result = subprocess.run(
        [find_uv_bin(), *args],
        cwd=ROOT,
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        sys.stderr.write(result.stderr)
        raise SystemExit(f"uv {args[0]} failed (exit {result.returncode})")
    return result.stdout


def export(extra_args: Sequence[str], *, hashes: bool = True) -> str:
    """Requirements cut from ``uv.lock`` (as it is), without the project itself."""
    args = ["export", "--no-config", "--frozen", "--format", "requirements.txt"]
    args += ["--no-emit-project", "--no-header", "--group", "backend", *extra_args]
    return uv(*args, *([] if hashes else ["--no-hashes"]))


def for_windows(extra_args: Sequence[str]) -> str:
    """Pins cut from ``uv.lock`` evaluated for Windows x64: the same versions, no markers."""
    pins = export(extra_args, hashes=False)
    return uv(
        "pip",
        "compile",
        "--no-config",
        "--quiet",
        "--no-header",
        "--no-annotate",
        "--generate-hashes",
        *WINDOWS_TARGET,
        "-",
        stdin=pins,
    )


def planned() -> dict[Path, str]:
    """Every requirement file with the text it should hold, from ``uv.lock``."""
    files = {
        HERE / name: HEADER.format(name=name, what=what, command=COMMAND) + export(args)
        for name, (what, args) in EXPORTS.items()
    }
    for name, (what, args) in WINDOWS.items():
        files[HERE / name] = HEADER.format(name=name, what=what, command=COMMAND) + for_windows(
            args
        )
    return files


def entries(text: str) -> list[tuple[Requirement, list[str]]]:
    """Each requirement of a hashed requirement file, with its hashes (``sha256:...``)."""
    found = []
    for line in text.replace("\\\n", " ").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            hashes = re.findall(r"--hash=(sha256:[0-9a-f]{64})", line)
            found.append((Requirement(re.sub(r"\s*--hash=\S+", "", line)), hashes))
    return found


def pins(texts: Sequence[str]) -> dict[str, str]:
    """Package name -> version, over several requirement files."""
    return {
        canonicalize_name(req.name): str(req.specifier).removeprefix("==")
        for text in texts
        for req, _hashes in entries(text)
    }


def unlocked(lock: Path) -> list[str]:
    """How this Python's packages differ from the file ``lock`` (for the packages that
    its markers give this platform); empty when the environment is the lock's."""
    wrong = []
    for req, _hashes in entries(lock.read_text("utf-8")):
        if req.marker is not None and not req.marker.evaluate():
            continue
        wanted = str(req.specifier).removeprefix("==")
        try:
            installed = importlib.metadata.version(req.name)
        except importlib.metadata.PackageNotFoundError:
            installed = "nothing"
        if installed != wanted:
            wrong.append(f"{req.name}: locked {wanted}, installed {installed}")
    return wrong


def changes(before: dict[str, str], after: dict[str, str]) -> list[str]:
    """What moved between two sets of pins, one line per package, for the review."""
    lines = []
    for name in sorted(before.keys() | after.keys()):
        old, new = before.get(name), after.get(name)
        if old == new:
            continue
        if old is None:
            lines.append(f"  + {name} {new}")
        elif new is None:
            lines.append(f"  - {name} {old}")
        else:
            lines.append(f"    {name} {old} -> {new}")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Refresh or check the dependency lock.")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--upgrade", action="store_true", help="take today's newest versions")
    mode.add_argument("--check", action="store_true", help="exit 1 if anything is stale")
    args = parser.parse_args(argv)

    if args.check:
        uv("lock", "--no-config", "--locked", "--quiet")  # fails when uv.lock is stale
    else:
        uv("lock", "--no-config", "--quiet", *(["--upgrade"] if args.upgrade else []))
    files = planned()
    current = {path: path.read_text("utf-8") if path.exists() else "" for path in files}
    stale = [path for path, text in files.items() if current[path] != text]
    for path in stale:
        print(f"{'stale' if args.check else 'updated'}: {path.relative_to(ROOT).as_posix()}")
        if not args.check:
            path.write_text(files[path], encoding="utf-8", newline="\n")
    moved = changes(pins(list(current.values())), pins(list(files.values())))
    if moved:
        print("Versions:" if not args.check else "Versions the lock would change:")
        print("\n".join(moved))
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
