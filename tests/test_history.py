"""The history database: round trips, filters, several processes, crashes, corruption."""

from __future__ import annotations

import logging
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from updater.machine.history import (
    SCHEMA_VERSION,
    History,
    HistoryEntry,
    Operation,
    Outcome,
)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "history.sqlite3"


@pytest.fixture
def history(db_path: Path) -> Iterator[History]:
    with History(db_path) as opened:
        yield opened


def spawn(script: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(script), *args],
        stdout=subprocess.PIPE,
        text=True,
    )


def stop(proc: subprocess.Popen[str]) -> None:
    """Kill ``proc`` (SIGKILL on POSIX, TerminateProcess on Windows) and close its pipes."""
    proc.kill()
    proc.communicate(timeout=10)


def integrity(path: Path) -> str:
    conn = sqlite3.connect(path)
    try:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        conn.close()


# --- round trips ---------------------------------------------------------------------------


def test_start_and_finish_round_trip_every_field(history: History) -> None:
    before = datetime.now(UTC)
    entry_id = history.start(Operation.UPDATE, "tpv", "1.0.0", "1.1.0")
    running = history.get(entry_id)
    assert running is not None
    assert running.outcome is Outcome.IN_PROGRESS
    assert running.finished_at is None
    assert running.duration_seconds is None
    assert before <= running.started_at <= datetime.now(UTC)
    assert running.started_at.tzinfo is not None

    time.sleep(0.02)
    history.finish(
        entry_id,
        Outcome.ROLLED_BACK,
        error_code="install.health",
        message="La comprobación falló",
        details="exit code 3\nlast lines…",
    )
    [done] = history.entries()
    assert done == HistoryEntry(
        id=entry_id,
        started_at=running.started_at,
        finished_at=done.finished_at,
        operation=Operation.UPDATE,
        product="tpv",
        from_version="1.0.0",
        to_version="1.1.0",
        outcome=Outcome.ROLLED_BACK,
        error_code="install.health",
        message="La comprobación falló",
        details="exit code 3\nlast lines…",
        duration_seconds=done.duration_seconds,
    )
    assert done.finished_at is not None
    assert done.finished_at.utcoffset() == timedelta(0)
    assert done.started_at <= done.finished_at
    assert done.duration_seconds is not None
    # Measured on the monotonic clock, which ticks coarsely on Windows (15.6 ms).
    assert 0.02 - time.get_clock_info("monotonic").resolution <= done.duration_seconds < 5


def test_record_stores_a_finished_entry(history: History) -> None:
    began = datetime.now(UTC) - timedelta(seconds=3)
    entry_id = history.record(
        Operation.CHECK, Outcome.NOTHING_TO_DO, "erp", "2.0", None, started_at=began
    )
    entry = history.get(entry_id)
    assert entry is not None
    assert entry.operation is Operation.CHECK
    assert entry.outcome is Outcome.NOTHING_TO_DO
    assert entry.product == "erp"
    assert entry.from_version == "2.0"
    assert entry.to_version is None
    assert entry.error_code is entry.message is entry.details is None
    assert entry.started_at == began
    assert entry.duration_seconds is not None
    assert 3 <= entry.duration_seconds < 10


def test_none_fields_round_trip(history: History) -> None:
    entry_id = history.record(Operation.CHECK, Outcome.FAILED, error_code="network")
    entry = history.get(entry_id)
    assert entry is not None
    assert entry.product is None
    assert entry.error_code == "network"


def test_every_operation_and_outcome_round_trips(history: History) -> None:
    for operation in Operation:
        for outcome in Outcome:
            if outcome is Outcome.IN_PROGRESS:
                entry_id = history.start(operation, "tpv")
            else:
                entry_id = history.record(operation, outcome, "tpv")
            entry = history.get(entry_id)
            assert entry is not None
            assert (entry.operation, entry.outcome) == (operation, outcome)


def test_in_progress_is_not_an_outcome_to_finish_with(history: History) -> None:
    entry_id = history.start(Operation.UPDATE)
    with pytest.raises(ValueError):
        history.finish(entry_id, Outcome.IN_PROGRESS)
    with pytest.raises(ValueError):
        history.record(Operation.CHECK, Outcome.IN_PROGRESS)


def test_entries_survive_reopening(db_path: Path) -> None:
    with History(db_path) as history:
        entry_id = history.record(Operation.RESTORE, Outcome.SUCCESS, "tpv", "1.1", "1.0")
        assert history.persistent
    with History(db_path) as history:
        [entry] = history.entries()
        assert entry.id == entry_id
        assert entry.operation is Operation.RESTORE


def test_finishing_an_unknown_entry_is_only_logged(
    history: History, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="updater.machine.history"):
        history.finish(12345, Outcome.SUCCESS)
    assert "12345" in caplog.text


def test_an_entry_started_by_another_instance_gets_a_wall_clock_duration(db_path: Path) -> None:
    with History(db_path) as first:
        entry_id = first.start(Operation.UPDATE, "tpv")
    time.sleep(0.05)
    with History(db_path) as second:
        second.finish(entry_id, Outcome.SUCCESS)
        entry = second.get(entry_id)
    assert entry is not None
    assert entry.duration_seconds is not None
    assert 0.04 <= entry.duration_seconds < 5


# --- reading ---------------------------------------------------------------------------------


def test_entries_are_newest_first_and_filtered(history: History) -> None:
    ids = [
        history.record(Operation.CHECK, Outcome.NOTHING_TO_DO),
        history.record(Operation.UPDATE, Outcome.SUCCESS, "tpv", "1.0", "1.1"),
        history.record(Operation.UPDATE, Outcome.FAILED, "erp", "2.0", "2.1"),
        history.record(Operation.ROLLBACK, Outcome.SUCCESS, "erp", "2.1", "2.0"),
        history.record(Operation.RESTORE, Outcome.SUCCESS, "tpv", "1.1", "1.0"),
    ]
    assert [e.id for e in history.entries()] == ids[::-1]
    assert [e.id for e in history.entries(limit=2)] == [ids[4], ids[3]]
    assert history.entries(limit=0) == []
    assert [e.id for e in history.entries(product="tpv")] == [ids[4], ids[1]]
    assert [e.id for e in history.entries(operations={Operation.UPDATE})] == [ids[2], ids[1]]
    assert [
        e.id
        for e in history.entries(product="erp", operations=[Operation.UPDATE, Operation.ROLLBACK])
    ] == [ids[3], ids[2]]
    assert history.entries(operations=[]) == []
    assert history.entries(product="nothing") == []


def test_history_is_usable_from_several_threads(history: History) -> None:
    def work() -> None:
        for _ in range(25):
            history.finish(history.start(Operation.CHECK), Outcome.SUCCESS)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(history.entries(limit=1000)) == 100


# --- several processes --------------------------------------------------------------------------

WRITER = """
    import sys
    from pathlib import Path
    from updater.machine.history import History, Operation, Outcome

    with History(Path(sys.argv[1])) as history:
        print("ready" if history.persistent else "in memory", flush=True)
        sys.stdin.readline()  # go
        for n in range(int(sys.argv[2])):
            if n % 2:
                history.record(Operation.CHECK, Outcome.NOTHING_TO_DO, sys.argv[3], str(n))
            else:
                entry = history.start(Operation.UPDATE, sys.argv[3], str(n))
                history.finish(entry, Outcome.SUCCESS)
    """


def test_two_processes_write_at_the_same_time(db_path: Path) -> None:
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(WRITER), str(db_path), "200", product],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for product in ("tpv", "erp")
    ]
    for proc in procs:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
    for proc in procs:  # both start writing together
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    for proc in procs:
        proc.communicate(timeout=60)
        assert proc.returncode == 0
    with History(db_path) as history:
        entries = history.entries(limit=1000)
    assert not list(db_path.parent.glob("*.corrupt-*")), "a healthy database was moved aside"
    assert len(entries) == 400
    for product in ("tpv", "erp"):
        versions = {e.from_version for e in entries if e.product == product}
        assert versions == {str(n) for n in range(200)}
    assert all(e.outcome is not Outcome.IN_PROGRESS for e in entries)
    assert integrity(db_path) == "ok"


def test_mark_interrupted_closes_the_entries_of_a_killed_process(
    db_path: Path, history: History
) -> None:
    proc = spawn(
        """
        import sys, time
        from pathlib import Path
        from updater.machine.history import History, Operation

        history = History(Path(sys.argv[1]))
        print(history.start(Operation.UPDATE, "tpv", "1.0", "1.1"), flush=True)
        time.sleep(60)
        """,
        str(db_path),
    )
    try:
        assert proc.stdout is not None
        crashed_id = int(proc.stdout.readline())
    finally:
        stop(proc)
    mine = history.start(Operation.CHECK)  # this process is alive: not interrupted

    [marked] = history.mark_interrupted()
    assert marked.id == crashed_id
    assert marked.outcome is Outcome.FAILED
    assert marked.message == "interrupted"
    assert marked.error_code == "interrupted"
    assert marked.finished_at is not None
    assert (marked.product, marked.from_version, marked.to_version) == ("tpv", "1.0", "1.1")
    running = history.get(mine)
    assert running is not None
    assert running.outcome is Outcome.IN_PROGRESS
    assert history.mark_interrupted() == []  # nothing left to mark


def test_mark_interrupted_leaves_another_running_process_alone(
    db_path: Path, history: History
) -> None:
    proc = spawn(
        """
        import sys, time
        from pathlib import Path
        from updater.machine.history import History, Operation

        history = History(Path(sys.argv[1]))
        print(history.start(Operation.UPDATE, "tpv"), flush=True)
        time.sleep(60)
        """,
        str(db_path),
    )
    try:
        assert proc.stdout is not None
        running_id = int(proc.stdout.readline())
        assert history.mark_interrupted() == []
        entry = history.get(running_id)
        assert entry is not None
        assert entry.outcome is Outcome.IN_PROGRESS
    finally:
        stop(proc)


def test_the_database_survives_a_kill_in_the_middle_of_writing(db_path: Path) -> None:
    proc = spawn(
        """
        import sys
        from pathlib import Path
        from updater.machine.history import History, Operation, Outcome

        history = History(Path(sys.argv[1]))
        while True:
            entry = history.start(Operation.UPDATE, "tpv", "1.0", "1.1")
            print(entry, flush=True)
            history.finish(entry, Outcome.FAILED, details="x" * 5000)
        """,
        str(db_path),
    )
    committed: list[int] = []
    try:
        assert proc.stdout is not None
        while len(committed) < 150:
            committed.append(int(proc.stdout.readline()))
    finally:
        stop(proc)
    assert integrity(db_path) == "ok"
    with History(db_path) as history:
        assert history.persistent
        ids = {e.id for e in history.entries(limit=100_000)}
        assert set(committed) <= ids
        history.mark_interrupted()  # the last one may be in progress: it is closed now
        assert all(e.outcome is Outcome.FAILED for e in history.entries(limit=100_000))
    assert not list(db_path.parent.glob("*.corrupt-*"))


# --- damaged and foreign databases ----------------------------------------------------------------


def test_a_corrupt_database_is_moved_aside(db_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    db_path.parent.mkdir(parents=True)
    garbage = b"this is not a database at all\x00\xff" * 200
    db_path.write_bytes(garbage)
    with (
        caplog.at_level(logging.WARNING, logger="updater.machine.history"),
        History(db_path) as history,
    ):
        assert history.persistent
        assert history.entries() == []
        entry_id = history.record(Operation.CHECK, Outcome.SUCCESS)
        assert [e.id for e in history.entries()] == [entry_id]
    [aside] = db_path.parent.glob("history.sqlite3.corrupt-*")
    assert aside.read_bytes() == garbage
    assert "damaged" in caplog.text
    assert integrity(db_path) == "ok"


def test_a_damaged_database_found_later_is_replaced(db_path: Path) -> None:
    with History(db_path) as history:
        history.record(Operation.CHECK, Outcome.SUCCESS)
    data = bytearray(db_path.read_bytes())
    data[0:16] = b"garbage garbage!"  # the SQLite header
    db_path.write_bytes(bytes(data))
    with History(db_path) as history:
        assert history.entries() == []
        history.record(Operation.CHECK, Outcome.SUCCESS)
        assert len(history.entries()) == 1
    assert len(list(db_path.parent.glob("history.sqlite3.corrupt-*"))) == 1


def test_an_unusable_location_falls_back_to_memory(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file where the folder should be")
    with caplog.at_level(logging.WARNING, logger="updater.machine.history"):
        history = History(blocker / "history.sqlite3")
    with history:
        assert not history.persistent
        entry_id = history.start(Operation.UPDATE, "tpv")
        history.finish(entry_id, Outcome.SUCCESS)
        assert [e.outcome for e in history.entries()] == [Outcome.SUCCESS]
    assert "memory" in caplog.text


def test_the_schema_version_and_journal_mode(db_path: Path) -> None:
    History(db_path).close()
    conn = sqlite3.connect(db_path)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("SELECT COUNT(*) FROM history").fetchone()[0] == 0
    finally:
        conn.close()


def test_timestamps_are_stored_as_iso_utc_text(history: History, db_path: Path) -> None:
    entry_id = history.record(Operation.CHECK, Outcome.SUCCESS)
    conn = sqlite3.connect(db_path)
    try:
        started, finished = conn.execute(
            "SELECT started_at, finished_at FROM history WHERE id = ?", (entry_id,)
        ).fetchone()
    finally:
        conn.close()
    for text in (started, finished):
        assert isinstance(text, str)
        assert text.endswith("+00:00")
        assert datetime.fromisoformat(text).utcoffset() == timedelta(0)


def test_a_database_from_a_newer_updater_is_used_as_is(db_path: Path) -> None:
    with History(db_path) as history:
        history.record(Operation.CHECK, Outcome.SUCCESS)
    conn = sqlite3.connect(db_path)
    conn.execute("ALTER TABLE history ADD COLUMN something_new TEXT")
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.execute(
        "INSERT INTO history (started_at, operation, outcome) VALUES (?, 'upgrade', 'success')",
        (datetime.now(UTC).isoformat(),),
    )
    conn.commit()
    conn.close()
    with History(db_path) as history:
        # The row with an operation this version does not know is skipped, not fatal.
        assert [e.operation for e in history.entries()] == [Operation.CHECK]
        history.record(Operation.CHECK, Outcome.SUCCESS)
    assert not list(db_path.parent.glob("*.corrupt-*"))
