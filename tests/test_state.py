"""The state directory: its folders, the machine id and the update lock (real processes)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from updater.errors import BusyError, StorageError
from updater.machine.state import LockOwner, StateDir

#: Holds the lock of the state folder given as argv[1] until killed (or argv[2] seconds).
HOLDER = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path
    from updater.machine.state import StateDir

    with StateDir(Path(sys.argv[1])).lock():
        print("locked", os.getpid(), flush=True)
        time.sleep(float(sys.argv[2]))
    print("released", flush=True)
    """
)


def spawn(script: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", script, *args],
        stdout=subprocess.PIPE,
        text=True,
    )


def stop(proc: subprocess.Popen[str]) -> None:
    """Kill ``proc`` (SIGKILL on POSIX, TerminateProcess on Windows) and close its pipes."""
    proc.kill()
    proc.communicate(timeout=10)


def wait_for_line(proc: subprocess.Popen[str], expected: str) -> list[str]:
    """Read a line of ``proc`` that starts with the word ``expected``; the other words."""
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    word, *rest = line.split() or [""]
    assert word == expected, f"child said {line!r} (exit code {proc.poll()})"
    return rest


@pytest.fixture
def state(tmp_path: Path) -> StateDir:
    return StateDir(tmp_path / "state")


@pytest.fixture
def holder(state: StateDir) -> Iterator[subprocess.Popen[str]]:
    """Another process holding the lock of ``state`` for up to a minute."""
    proc = spawn(HOLDER, str(state.root), "60")
    try:
        [pid] = wait_for_line(proc, "locked")
        # The Python that holds the lock: on Windows a venv's python.exe is a launcher
        # that runs it as a child process.
        proc.python_pid = int(pid)  # type: ignore[attr-defined]
        yield proc
    finally:
        stop(proc)


# --- folders and paths -----------------------------------------------------------------


def test_ensure_creates_every_folder(state: StateDir) -> None:
    state.ensure()
    for folder in (
        state.root,
        state.feed_cache,
        state.downloads,
        state.journal_dir,
        state.snapshots_dir,
        state.logs_dir,
    ):
        assert folder.is_dir(), folder
    state.ensure()  # again is harmless


def test_paths_are_inside_the_root(state: StateDir) -> None:
    root = state.root
    assert state.lock_file == root / "updater.lock"
    assert state.feed_cache == root / "feed"
    assert state.downloads == root / "downloads"
    assert state.journal_dir == root / "journal"
    assert state.snapshots_dir == root / "snapshots"
    assert state.history_db == root / "history.sqlite3"
    assert state.logs_dir == root / "logs"
    assert state.machine_id_file == root / "machine-id"
    assert state.snapshots_of("tpv") == root / "snapshots" / "tpv"


@pytest.mark.parametrize("bad", ["", "..", "../tpv", "tpv/erp", "TPV", "c:\\x", "tpv\\..\\erp"])
def test_snapshots_of_refuses_names_that_are_not_product_ids(state: StateDir, bad: str) -> None:
    with pytest.raises(ValueError):
        state.snapshots_of(bad)


def test_ensure_reports_a_file_in_the_way(tmp_path: Path) -> None:
    blocker = tmp_path / "state"
    blocker.write_text("not a folder")
    with pytest.raises(StorageError) as info:
        StateDir(blocker).ensure()
    assert str(blocker) in str(info.value)


# --- machine id --------------------------------------------------------------------------


def test_machine_id_is_created_once_and_reused(state: StateDir) -> None:
    first = state.machine_id()
    assert len(first) == 32
    int(first, 16)
    assert StateDir(state.root).machine_id() == first
    assert state.machine_id_file.read_text().strip() == first
    assert [p.name for p in state.root.iterdir()] == ["machine-id"]  # no temp files left


def test_machine_id_is_the_same_in_every_process(state: StateDir) -> None:
    script = "import sys; from pathlib import Path; from updater.machine.state import StateDir\n"
    script += "print(StateDir(Path(sys.argv[1])).machine_id())"
    procs = [spawn(script, str(state.root)) for _ in range(4)]  # racing to create it
    ids = {proc.communicate(timeout=30)[0].strip() for proc in procs}
    assert all(proc.returncode == 0 for proc in procs)
    assert ids == {state.machine_id()}


def test_a_damaged_machine_id_is_replaced(state: StateDir) -> None:
    state.root.mkdir()
    state.machine_id_file.write_text("garbage")
    fresh = state.machine_id()
    assert len(fresh) == 32
    assert state.machine_id() == fresh


# --- the lock ------------------------------------------------------------------------------


def test_lock_writes_and_removes_the_owner_file(state: StateDir) -> None:
    with state.lock():
        owner = json.loads(state.lock_owner_file.read_text())
        assert owner["pid"] == os.getpid()
        assert owner["name"]
        assert owner["process_started_at"]
        described = state.lock_owner()
        assert described is not None
        assert described.pid == os.getpid()
    assert not state.lock_owner_file.exists()
    assert state.lock_owner() is None


def test_lock_owner_file_is_removed_after_an_exception(state: StateDir) -> None:
    with pytest.raises(KeyError), state.lock():
        raise KeyError("boom")
    assert not state.lock_owner_file.exists()
    with state.lock():  # and the lock was released
        pass


def test_another_process_is_refused_and_named(
    state: StateDir, holder: subprocess.Popen[str]
) -> None:
    with pytest.raises(BusyError) as info, state.lock():
        pytest.fail("took a lock held by another process")
    error = info.value
    assert error.code == "busy"
    assert "Another update is in progress" in error.message
    assert f"process {holder.python_pid}" in error.message  # type: ignore[attr-defined]
    assert error.hint is not None
    assert error.hint == "Try again later."


def test_waiting_is_refused_after_the_timeout(
    state: StateDir, holder: subprocess.Popen[str]
) -> None:
    started = time.monotonic()
    with pytest.raises(BusyError), state.lock(wait=0.3):
        pytest.fail("took a lock held by another process")
    assert 0.3 <= time.monotonic() - started < 5


def test_a_killed_holder_releases_the_lock(state: StateDir, holder: subprocess.Popen[str]) -> None:
    with pytest.raises(BusyError), state.lock():
        pass
    holder.kill()  # SIGKILL: no cleanup code runs in the holder
    holder.wait(timeout=10)
    assert state.lock_owner_file.exists()  # left behind by the killed holder...
    assert state.lock_owner() is None  # ...and recognised as stale
    with state.lock(wait=5):
        owner = state.lock_owner()
        assert owner is not None
        assert owner.pid == os.getpid()
    assert not state.lock_owner_file.exists()


def test_wait_succeeds_once_another_process_releases(state: StateDir) -> None:
    proc = spawn(HOLDER, str(state.root), "0.5")
    try:
        wait_for_line(proc, "locked")
        with state.lock(wait=10):
            pass
        wait_for_line(proc, "released")
    finally:
        stop(proc)


def test_a_stale_owner_file_is_not_reported(state: StateDir) -> None:
    state.root.mkdir()
    # Same pid, another start time: a process that reused the pid of a dead holder.
    dead = LockOwner(
        pid=os.getpid(),
        name="ghost",
        process_started_at=datetime(2001, 1, 1, tzinfo=UTC),
        acquired_at=None,
    )
    state.lock_owner_file.write_text(dead.to_json())
    assert state.lock_owner() is None
    state.lock_owner_file.write_text("{not json")
    assert state.lock_owner() is None


class _Holder(threading.Thread):
    """A thread of this process that holds the lock until told to let go."""

    def __init__(self, state: StateDir, hold: float = 30.0) -> None:
        super().__init__(daemon=True)
        self.state = state
        self.hold = hold
        self.locked = threading.Event()
        self.let_go = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with self.state.lock():
                self.locked.set()
                self.let_go.wait(self.hold)
        except BaseException as exc:
            self.error = exc
            self.locked.set()


def test_another_thread_is_refused_like_another_process(state: StateDir) -> None:
    holder = _Holder(state)
    holder.start()
    assert holder.locked.wait(10)
    assert holder.error is None
    try:
        with pytest.raises(BusyError) as info, state.lock(wait=0.2):
            pytest.fail("took a lock held by another thread")
        assert f"process {os.getpid()}" in info.value.message
        # A second StateDir object for the same folder changes nothing.
        with pytest.raises(BusyError), StateDir(state.root).lock():
            pass
    finally:
        holder.let_go.set()
        holder.join(10)
    assert holder.error is None
    with state.lock():
        pass


def test_another_thread_waits_for_the_lock(state: StateDir) -> None:
    holder = _Holder(state, hold=0.3)
    holder.start()
    assert holder.locked.wait(10)
    started = time.monotonic()
    with state.lock(wait=10):
        waited = time.monotonic() - started
    assert 0.1 <= waited < 5
    holder.join(10)
    assert holder.error is None


def test_two_threads_never_hold_it_together(state: StateDir) -> None:
    inside = 0
    overlaps = 0
    entered = 0
    guard = threading.Lock()

    def worker() -> None:
        nonlocal inside, overlaps, entered
        for _ in range(20):
            with state.lock(wait=10):
                with guard:
                    inside += 1
                    entered += 1
                    overlaps += inside > 1
                time.sleep(0.001)
                with guard:
                    inside -= 1

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert entered == 80
    assert overlaps == 0


def test_the_lock_is_not_reentrant(state: StateDir) -> None:
    with state.lock(), pytest.raises(BusyError), state.lock():
        pass


@pytest.mark.parametrize("wait", [-1.0, float("inf"), float("nan")])
def test_wait_must_be_finite_and_positive(state: StateDir, wait: float) -> None:
    with pytest.raises(ValueError), state.lock(wait=wait):
        pass
