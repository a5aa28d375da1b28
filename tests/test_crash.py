"""Power cuts for real: an update runs in a subprocess that is killed (SIGKILL on POSIX,
TerminateProcess on Windows) at every journal entry and at random points inside file
copies; recovery must then leave the program and its data byte-for-byte the old version
or the new one."""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.apps import STANDIN_INSTALLER_ENV, standin
from tests.crash_driver import KILLED
from tests.enginekit import Machine, make_machine, tree
from updater.install.transaction import Entry, pending_journals, recover
from updater.observer import NullObserver

RANDOM_COPY_POINTS = 12


def run_driver(
    machine: Machine, *, kill: dict[str, int] | None, fail_health: bool, installer: bool = False
) -> Any:
    file_list = machine.state.parent / "files.json"
    file_list.write_bytes(machine.file_list.to_json())
    args = {
        "state": str(machine.state),
        "install_dir": str(machine.install_dir),
        "data_paths": [str(machine.data_dir), str(machine.settings_file)],
        "package": str(machine.package),
        "file_list": str(file_list),
        "kill": kill,
        "fail_health": fail_health,
        "installer": str(machine.state.parent / "setup.exe") if installer else None,
        "standin": (
            str(standin(STANDIN_INSTALLER_ENV, "installer.c"))
            if installer and sys.platform == "win32"
            else None
        ),
    }
    return subprocess.run(
        [sys.executable, "-m", "tests.crash_driver", json.dumps(args)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).parent.parent,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)},
    )


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Machine:
    return make_machine(tmp_path_factory.mktemp("crash-template"), files=150)


def fresh(template: Machine, base: Path) -> Machine:
    root = template.state.parent
    shutil.copytree(root, base, symlinks=True)
    moved = {
        k: (base / Path(v).relative_to(root)) if isinstance(v, Path) else v
        for k, v in template.__dict__.items()
    }
    return Machine(**moved)


def outcome_of(machine: Machine, new_tree: dict[str, str] | None = None) -> str:
    program = tree(machine.install_dir)
    if program == machine.old_tree:
        assert tree(machine.data_dir) == machine.old_data, "old program with changed data"
        assert machine.settings_file.read_text() == machine.old_settings
        return "old"
    assert program == (new_tree or machine.new_tree), "neither the old nor the new version"
    return "new"


@pytest.mark.slow
@pytest.mark.parametrize("fail_health", [False, True], ids=["commit", "rollback"])
def test_killed_at_every_journal_entry_and_inside_copies(
    template: Machine, tmp_path: Path, fail_health: bool
) -> None:
    counting = fresh(template, tmp_path / "count")
    result = run_driver(counting, kill=None, fail_health=fail_health)
    assert result.returncode == 0, result.stderr
    counts = json.loads(result.stdout)
    assert counts["journal"] >= 8 and counts["progress"] > RANDOM_COPY_POINTS

    rng = random.Random(20261125 + fail_health)
    points = [{"journal": n} for n in range(1, counts["journal"] + 1)]
    points += [
        {"progress": n}
        for n in sorted(rng.sample(range(1, counts["progress"] + 1), RANDOM_COPY_POINTS))
    ]
    survived: dict[str, list[str]] = {"old": [], "new": []}
    for index, kill in enumerate(points):
        machine = fresh(template, tmp_path / f"kill-{index}")
        result = run_driver(machine, kill=kill, fail_health=fail_health)
        assert result.returncode == KILLED, (kill, result.stderr)
        recovered = recover(machine.journal_dir, NullObserver())
        assert len(recovered) <= 1
        assert pending_journals(machine.journal_dir) == []
        assert machine.leftovers() == [], kill
        state = outcome_of(machine)
        if recovered and recovered[0].outcome == Entry.COMMITTED:
            assert state == "new"
        survived[state].append(json.dumps(kill))
    total = len(points)
    print(
        f"\n{'rollback' if fail_health else 'commit'} scenario: survived {total} of {total} "
        f"kill points ({len(survived['old'])} ended as the old version, "
        f"{len(survived['new'])} as the new one)"
    )
    if fail_health:
        assert survived["new"] == []  # a failed health check never keeps the new version
    else:
        assert survived["new"], "no kill point late enough to keep the new version"


def installed_by_setup(machine: Machine) -> dict[str, str]:
    """What the crash driver's installer leaves in a finished install."""
    finished = machine.state.parent / "expected"
    shutil.copytree(machine.install_dir, finished)
    for f in finished.rglob("*"):
        if f.is_file():
            f.write_bytes(b"installed by 2.0.0")
    (finished / "VERSION").write_bytes(b"2.0.0\n")
    result = tree(finished)
    shutil.rmtree(finished)
    return result


@pytest.mark.slow
def test_killed_while_an_installer_rewrites_the_program(template: Machine, tmp_path: Path) -> None:
    """Installers change files in place: a kill mid-install must still end old or new."""
    counting = fresh(template, tmp_path / "count")
    result = run_driver(counting, kill=None, fail_health=False, installer=True)
    assert result.returncode == 0, result.stderr
    counts = json.loads(result.stdout)
    expected_new = installed_by_setup(fresh(template, tmp_path / "expected-base"))
    rng = random.Random(7)
    points = [{"journal": n} for n in range(1, counts["journal"] + 1)]
    points += [
        {"progress": n}
        for n in sorted(rng.sample(range(1, counts["progress"] + 1), RANDOM_COPY_POINTS))
    ]
    ends = []
    for index, kill in enumerate(points):
        machine = fresh(template, tmp_path / f"kill-{index}")
        result = run_driver(machine, kill=kill, fail_health=False, installer=True)
        assert result.returncode == KILLED, (kill, result.stderr)
        recover(machine.journal_dir, NullObserver())
        assert pending_journals(machine.journal_dir) == []
        assert machine.leftovers() == [], kill
        ends.append(outcome_of(machine, expected_new))
    print(f"\ninstaller scenario: survived {len(points)} of {len(points)} kill points")
    assert "old" in ends and "new" in ends
