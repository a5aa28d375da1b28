"""The lock: every requirement file pins and hashes everything, agrees with uv.lock and
pyproject.toml, and the environment the tests run in is the locked one.

(``requirements/refresh.py --check``, run by ``.ci/run``, proves that the files are what
uv makes of ``uv.lock`` today; these tests need no network.)
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
REQUIREMENTS = ROOT / "requirements"
_spec = importlib.util.spec_from_file_location("refresh", REQUIREMENTS / "refresh.py")
assert _spec is not None and _spec.loader is not None
refresh = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(refresh)  # requirements/ is no package

FILES = ("runtime.txt", "test.txt", "windows-bundle.txt", "windows-test.txt")


def entries(name: str) -> list[tuple[Requirement, list[str]]]:
    """Each requirement of ``requirements/<name>``, with its hashes."""
    found: list[tuple[Requirement, list[str]]] = refresh.entries(
        (REQUIREMENTS / name).read_text("utf-8")
    )
    return found


def pinned(name: str) -> dict[str, str]:
    """Package -> locked version, for the packages of ``name`` that this machine installs."""
    return {
        canonicalize_name(req.name): str(req.specifier).removeprefix("==")
        for req, _hashes in entries(name)
        if req.marker is None or req.marker.evaluate()
    }


def locked_versions() -> dict[str, str]:
    lock = tomllib.loads((ROOT / "uv.lock").read_text("utf-8"))
    return {canonicalize_name(p["name"]): p["version"] for p in lock["package"] if "version" in p}


@pytest.mark.parametrize("name", FILES)
def test_every_requirement_is_one_exact_version_with_hashes(name: str) -> None:
    found = entries(name)
    assert len(found) > 20
    for req, hashes in found:
        assert len(req.specifier) == 1, req
        assert next(iter(req.specifier)).operator == "==", req
        assert hashes, f"{req.name} has no hash"


@pytest.mark.parametrize("name", FILES)
def test_every_file_holds_the_versions_of_uv_lock(name: str) -> None:
    lock = locked_versions()
    for req, _hashes in entries(name):
        assert str(req.specifier) == f"=={lock[canonicalize_name(req.name)]}", req


def test_the_files_hold_what_pyproject_asks_for() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))
    backend = project["dependency-groups"]["backend"]
    runtime = [*project["project"]["dependencies"], *backend]
    wanted = {
        "runtime.txt": runtime,
        "test.txt": [*runtime, *project["project"]["optional-dependencies"]["test"]],
        "windows-bundle.txt": [*runtime, *project["project"]["optional-dependencies"]["build"]],
        "windows-test.txt": [*runtime, *project["project"]["optional-dependencies"]["test"]],
    }
    for name, requirements in wanted.items():
        versions = {canonicalize_name(req.name): req.specifier for req, _ in entries(name)}
        for text in requirements:
            req = Requirement(text)
            version = str(versions[canonicalize_name(req.name)]).removeprefix("==")
            assert req.specifier.contains(version, prereleases=True), (name, text, version)


@pytest.mark.parametrize("name", ["windows-bundle.txt", "windows-test.txt"])
def test_the_windows_files_are_for_windows_with_no_marker_left(name: str) -> None:
    found = {canonicalize_name(req.name): req for req, _hashes in entries(name)}
    assert all(req.marker is None for req in found.values())
    # What only Windows needs is there; what only macOS needs is not.
    assert {"pefile", "pywin32-ctypes"} <= found.keys()
    assert "macholib" not in found


def test_the_tests_run_on_the_locked_versions() -> None:
    """The README's test command installs from the lock; anything else is not CI's run."""
    wrong = refresh.unlocked(REQUIREMENTS / "test.txt")
    assert not wrong, "Install from the lock (README, command 2):\n" + "\n".join(wrong)


def test_a_package_not_at_its_locked_version_is_reported(tmp_path: Path) -> None:
    lock = tmp_path / "lock.txt"
    pinned_here = pinned("test.txt")
    lock.write_text(
        f"babel=={pinned_here['babel']} \\\n    --hash=sha256:{'0' * 64}\n"
        "pytest==1.0 \\\n    --hash=sha256:" + "1" * 64 + "\n"
        "colorama==0.0.1 ; sys_platform == 'never'\n"
        "not-a-package-of-ours==2.0\n",
        encoding="utf-8",
    )
    assert refresh.unlocked(lock) == [
        f"pytest: locked 1.0, installed {importlib.metadata.version('pytest')}",
        "not-a-package-of-ours: locked 2.0, installed nothing",
    ]


def test_the_review_summary_lists_what_moved() -> None:
    before = refresh.pins(["Babel==2.18.0\n", "tuf==7.0.1\nwheel==0.45.1 ; sys_platform == 'x'\n"])
    after = refresh.pins(["babel==2.19.0 \\\n", "tuf==7.0.1\nuv==0.13.9\n"])
    assert refresh.changes(before, after) == [
        "    babel 2.18.0 -> 2.19.0",
        "  + uv 0.13.9",
        "  - wheel 0.45.1",
    ]
