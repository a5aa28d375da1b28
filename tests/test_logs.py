"""The updater's log files: format, rotation, console, observer lines, failures, redaction."""

from __future__ import annotations

import logging
import logging.handlers
import re
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from updater.errors import HealthCheckError, NetworkError
from updater.machine.logs import (
    BACKUP_COUNT,
    LOG_FILE_NAME,
    MAX_BYTES,
    LoggingObserver,
    close_logging,
    log_failure,
    log_outcome,
    redact,
    setup_logging,
)
from updater.observer import Observer, Observers, Step

LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ (DEBUG|INFO|WARNING|ERROR|CRITICAL) \S.*$")


@pytest.fixture(autouse=True)
def _pristine_logging() -> Iterator[None]:
    """Every test starts and ends with the "updater" logger as the rest of the suite has it."""
    logger = logging.getLogger("updater")
    handlers, level, propagate = list(logger.handlers), logger.level, logger.propagate
    close_logging()
    yield
    close_logging()
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    for handler in handlers:
        logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = propagate


def _lines(path: Path) -> list[str]:
    for handler in logging.getLogger("updater").handlers:
        handler.flush()
    return path.read_text(encoding="utf-8").splitlines()


def _messages(path: Path) -> list[str]:
    """The lines of ``path`` without their timestamp: ``INFO tpv download ok``."""
    return [line.split(" ", 1)[1] for line in _lines(path)]


def _our_handlers() -> list[logging.Handler]:
    return [
        handler
        for handler in logging.getLogger("updater").handlers
        if (handler.name or "").startswith("updater.machine.logs:")
    ]


# --- files and format --------------------------------------------------------------------


def test_lines_have_utc_time_level_and_message(tmp_path: Path) -> None:
    path = setup_logging(tmp_path / "logs", stderr=False)

    assert path == tmp_path / "logs" / LOG_FILE_NAME
    before = datetime.now(UTC).replace(microsecond=0)
    logging.getLogger("updater.feed.download").info("tpv download ok: %s", "4.2.1")
    logging.getLogger("updater.machine.state").debug("erp journal recorded: swap-begun")
    after = datetime.now(UTC)

    lines = _lines(path)
    assert len(lines) == 2
    assert all(LINE.match(line) for line in lines), lines
    assert lines[0].endswith(" INFO tpv download ok: 4.2.1")
    assert lines[1].endswith(" DEBUG erp journal recorded: swap-begun")
    stamp = datetime.strptime(lines[0].split(" ", 1)[0], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert before <= stamp <= after


def test_times_are_utc_whatever_the_local_zone(tmp_path: Path) -> None:
    setup_logging(tmp_path / "logs", stderr=False)
    (handler,) = _our_handlers()
    assert handler.formatter is not None
    record = logging.LogRecord("updater", logging.INFO, __file__, 1, "tpv check ok", None, None)
    record.created = 0.0
    assert handler.formatter.format(record) == "1970-01-01T00:00:00Z INFO tpv check ok"


def test_one_line_per_event_even_with_line_breaks_and_tracebacks(tmp_path: Path) -> None:
    path = setup_logging(tmp_path / "logs", stderr=False)
    assert path is not None
    log = logging.getLogger("updater.install.health")
    log.info("tpv health_check output: line one\nline two\r\nline three")
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("tpv health_check crashed")

    lines = _lines(path)
    assert len(lines) == 2
    assert lines[0].endswith("output: line one\\nline two\\nline three")
    assert "tpv health_check crashed\\nTraceback (most recent call last):" in lines[1]
    assert lines[1].endswith("ValueError: boom")


def test_log_rotates_beyond_its_size_and_keeps_five(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    path = setup_logging(logs, stderr=False)
    assert path is not None
    (handler,) = _our_handlers()
    assert isinstance(handler, logging.handlers.RotatingFileHandler)
    assert handler.maxBytes == MAX_BYTES == 1024 * 1024
    handler.maxBytes = 20_000  # the same rotation, with 20 lines a file instead of 1,000
    log = logging.getLogger("updater.bench")
    filler = "x" * 1000

    for i in range(24):
        log.info("tpv download progress %d %s", i, filler)
    assert (logs / "updater.log.1").is_file()
    assert path.stat().st_size < handler.maxBytes
    assert (logs / "updater.log.1").stat().st_size <= handler.maxBytes
    assert _lines(path)[-1].endswith(f"progress 23 {filler}")

    for i in range(24 * (BACKUP_COUNT + 1)):
        log.info("tpv download progress %d %s", i, filler)
    rotated = sorted(p.name for p in logs.iterdir())
    assert rotated == [LOG_FILE_NAME] + [f"{LOG_FILE_NAME}.{n}" for n in range(1, 6)]


def test_a_failed_rotation_does_not_lose_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """As on Windows when another process has updater.log open: logging goes on."""
    path = setup_logging(tmp_path / "logs", stderr=False)
    assert path is not None
    (handler,) = _our_handlers()
    assert isinstance(handler, logging.handlers.RotatingFileHandler)

    def locked(source: str, dest: str) -> None:
        raise PermissionError(13, "The process cannot access the file", source)

    monkeypatch.setattr(handler, "rotate", locked)
    handler.maxBytes = 20_000
    log = logging.getLogger("updater.bench")
    for i in range(60):
        log.info("tpv download progress %d %s", i, "y" * 1000)

    assert not (tmp_path / "logs" / "updater.log.1").exists()
    lines = _lines(path)
    assert len(lines) == 60
    assert path.stat().st_size > handler.maxBytes
    assert "Logging error" not in capsys.readouterr().err


def test_setting_up_twice_does_not_duplicate_lines(tmp_path: Path) -> None:
    extra = tmp_path / "extra.log"
    setup_logging(tmp_path / "logs", log_file=extra, stderr=True)
    count = len(logging.getLogger("updater").handlers)
    path = setup_logging(tmp_path / "logs", log_file=extra, stderr=True)
    assert path is not None

    assert len(logging.getLogger("updater").handlers) == count == 3
    logging.getLogger("updater").info("erp update ok")
    assert _messages(path) == ["INFO erp update ok"]
    assert _messages(extra) == ["INFO erp update ok"]


def test_setting_up_again_replaces_the_previous_choice(tmp_path: Path) -> None:
    first = tmp_path / "first.log"
    setup_logging(tmp_path / "logs", log_file=first, stderr=True)
    setup_logging(tmp_path / "logs", stderr=False)

    assert len(_our_handlers()) == 1
    logging.getLogger("updater").info("tpv check ok")
    assert _messages(first) == []


def test_log_file_gets_the_same_lines_without_rotation(tmp_path: Path) -> None:
    extra = tmp_path / "support" / "today.log"  # its folder is created
    path = setup_logging(tmp_path / "logs", log_file=extra, stderr=False)
    assert path is not None
    log = logging.getLogger("updater.service")
    log.debug("tpv journal recorded: staged")
    log.info("tpv update ok: 4.2.0 -> 4.2.1")
    log.error("erp download failed: no connection")

    assert _lines(extra) == _lines(path)
    assert len(_lines(extra)) == 3
    assert all(LINE.match(line) for line in _lines(extra))
    (handler,) = (h for h in _our_handlers() if h.name == "updater.machine.logs:extra")
    assert not isinstance(handler, logging.handlers.RotatingFileHandler)


def test_log_file_appends(tmp_path: Path) -> None:
    extra = tmp_path / "today.log"
    extra.write_text("2026-01-01T00:00:00Z INFO earlier run\n", encoding="utf-8")
    setup_logging(tmp_path / "logs", log_file=extra, stderr=False)
    logging.getLogger("updater").info("tpv check ok")
    assert _messages(extra) == ["INFO earlier run", "INFO tpv check ok"]


def test_console_shows_warnings_or_everything_when_verbose(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = logging.getLogger("updater.service")

    setup_logging(tmp_path / "logs")
    log.debug("tpv download progress 10%")
    log.info("tpv download started")
    log.warning("tpv download retrying")
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1
    assert LINE.match(err[0])
    assert err[0].endswith("WARNING tpv download retrying")

    setup_logging(tmp_path / "logs", verbose=True)
    log.debug("tpv download progress 20%")
    assert capsys.readouterr().err.rstrip().endswith("DEBUG tpv download progress 20%")

    setup_logging(tmp_path / "logs", stderr=False)
    log.error("tpv download failed")
    assert capsys.readouterr().err == ""


def test_the_root_logger_is_left_alone(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level

    setup_logging(tmp_path / "logs", verbose=True)

    assert (root.handlers, root.level) == (handlers, level)
    with caplog.at_level(logging.WARNING, logger="updater.machine.history"):
        logging.getLogger("updater.machine.history").warning("history damaged")
    assert "history damaged" in caplog.text  # other tests' caplog keeps working


def test_the_console_is_looked_up_when_writing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """pythonw.exe (the tray on Windows) has no standard error; nothing breaks."""
    setup_logging(tmp_path / "logs")
    monkeypatch.setattr(sys, "stderr", None)
    logging.getLogger("updater").error("tpv download failed")
    monkeypatch.undo()
    logging.getLogger("updater").error("erp download failed")
    err = capsys.readouterr().err
    assert "tpv download failed" not in err
    assert "ERROR erp download failed" in err
    assert "Logging error" not in err

    monkeypatch.setattr(sys, "stderr", None)
    path = setup_logging(tmp_path / "logs")  # set up without a console at all
    logging.getLogger("updater").error("tpv swap failed")
    assert path is not None
    assert _messages(path)[-1] == "ERROR tpv swap failed"


def test_secrets_never_reach_the_files(tmp_path: Path) -> None:
    extra = tmp_path / "extra.log"
    path = setup_logging(tmp_path / "logs", log_file=extra, stderr=False)
    assert path is not None
    log = logging.getLogger("updater.feed.fetch")
    log.info("feed https://alice:s3cr3t@updates.example.com/feed/ unreachable")
    log.debug("publish settings {'passphrase': 'hunter2', 'token': 'abc123'}")

    for text in (path.read_text(encoding="utf-8"), extra.read_text(encoding="utf-8")):
        assert "s3cr3t" not in text
        assert "alice" not in text
        assert "hunter2" not in text
        assert "abc123" not in text
        assert "https://updates.example.com/feed/" in text


# --- a folder that cannot be written -----------------------------------------------------


def test_a_file_where_the_logs_folder_should_be_falls_back_to_the_console(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "logs"
    blocker.write_text("not a folder", encoding="utf-8")

    assert setup_logging(blocker) is None

    err = capsys.readouterr().err
    assert "WARNING The log cannot be written in" in err
    assert str(blocker) in err
    assert [h.name for h in _our_handlers()] == ["updater.machine.logs:stderr"]
    logging.getLogger("updater").error("tpv download failed: no connection")
    assert "ERROR tpv download failed: no connection" in capsys.readouterr().err
    assert blocker.read_text(encoding="utf-8") == "not a folder"


def test_the_console_is_used_even_when_not_asked_for_if_the_folder_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "state"
    blocker.write_text("", encoding="utf-8")

    assert setup_logging(blocker / "logs", stderr=False) is None  # the parent is a file

    assert "The log cannot be written in" in capsys.readouterr().err
    logging.getLogger("updater").warning("erp check retrying")
    assert "WARNING erp check retrying" in capsys.readouterr().err


def test_an_unwritable_log_file_is_skipped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("", encoding="utf-8")

    path = setup_logging(tmp_path / "logs", log_file=blocker / "extra.log")

    assert path == tmp_path / "logs" / LOG_FILE_NAME
    assert "The log file" in capsys.readouterr().err
    logging.getLogger("updater").info("tpv check ok")
    assert _messages(path)[-1] == "INFO tpv check ok"
    assert any("The log file" in line for line in _messages(path))


# --- observer ----------------------------------------------------------------------------


def test_observer_lines_for_an_update(tmp_path: Path) -> None:
    path = setup_logging(tmp_path / "logs", stderr=False)
    assert path is not None
    observer: Observer = LoggingObserver()

    observer.step("tpv", Step.CHECK)
    observer.step("tpv", Step.DOWNLOAD)
    for done in range(0, 10_001, 100):  # 101 calls
        observer.progress("tpv", Step.DOWNLOAD, done, 10_000, rate=2.5 * 1024 * 1024)
        assert observer.cancelled() is False
    observer.journal("tpv", "staged 4.2.1")
    observer.step("tpv", Step.SWAP)
    observer.journal("tpv", "swap-begun")

    messages = _messages(path)
    progress = [m for m in messages if " progress " in m]
    assert [m.split()[4] for m in progress] == [f"{n}%" for n in range(0, 101, 10)]
    assert progress[5] == "DEBUG tpv download progress 50% (4.9 KiB of 9.8 KiB, 2.5 MiB/s)"
    others = [m for m in messages if " progress " not in m]
    assert others == [
        "INFO tpv check started",
        "INFO tpv download started",
        "DEBUG tpv journal recorded: staged 4.2.1",
        "INFO tpv swap started",
        "DEBUG tpv journal recorded: swap-begun",
    ]


def test_observer_progress_per_product_and_step_and_again_on_retry(tmp_path: Path) -> None:
    path = setup_logging(tmp_path / "logs", stderr=False)
    assert path is not None
    observer = LoggingObserver()

    for done in (0, 50, 55, 100):  # two products interleaved keep their own pace
        observer.progress("tpv", Step.STAGE, done, 100)
        observer.progress("erp", Step.STAGE, done, 100)
    observer.step("tpv", Step.STAGE)  # a retry of the stage logs its progress again
    observer.progress("tpv", Step.STAGE, 0, 100)
    observer.progress("tpv", Step.DOWNLOAD, 30, 100)
    observer.progress("tpv", Step.DOWNLOAD, 10, 100)  # started over without a step call

    progress = [m.split(" ", 1)[1] for m in _messages(path) if " progress " in m]
    assert progress == [
        "tpv stage progress 0% (0 B of 100 B)",
        "erp stage progress 0% (0 B of 100 B)",
        "tpv stage progress 50% (50 B of 100 B)",
        "erp stage progress 50% (50 B of 100 B)",
        "tpv stage progress 100% (100 B of 100 B)",
        "erp stage progress 100% (100 B of 100 B)",
        "tpv stage progress 0% (0 B of 100 B)",
        "tpv download progress 30% (30 B of 100 B)",
        "tpv download progress 10% (10 B of 100 B)",
    ]


def test_observer_progress_with_an_unknown_total_is_bounded(tmp_path: Path) -> None:
    path = setup_logging(tmp_path / "logs", stderr=False)
    assert path is not None
    observer = LoggingObserver()

    chunk = 64 * 1024
    for n in range(1, 1601):  # 100 MiB in 64 KiB chunks
        observer.progress("erp", Step.DOWNLOAD, n * chunk, None)

    progress = [m for m in _messages(path) if " progress " in m]
    assert len(progress) == 11  # 64 KiB, 128 KiB, ... 64 MiB
    assert progress[0] == "DEBUG erp download progress 64.0 KiB (total unknown)"
    assert progress[-1] == "DEBUG erp download progress 64.0 MiB (total unknown)"


def test_observer_composes_and_writes_nothing_below_its_level(tmp_path: Path) -> None:
    path = setup_logging(tmp_path / "logs", stderr=False)
    assert path is not None
    quiet = logging.getLogger("updater.quiet")
    quiet.setLevel(logging.INFO)
    try:
        observers = Observers([LoggingObserver(quiet)])
        observers.step("tpv", Step.HEALTH_CHECK)
        observers.progress("tpv", Step.HEALTH_CHECK, 5, 10)
        observers.journal("tpv", "health ok")
        assert observers.cancelled() is False
    finally:
        quiet.setLevel(logging.NOTSET)
    assert _messages(path) == ["INFO tpv health_check started"]


def test_observer_rejects_a_nonsense_pace() -> None:
    with pytest.raises(ValueError, match="between 1 and 100"):
        LoggingObserver(progress_every=0)


# --- failures and outcomes ---------------------------------------------------------------


def test_failure_line_says_what_happened_what_to_do_and_the_code(tmp_path: Path) -> None:
    path = setup_logging(tmp_path / "logs", stderr=False)
    assert path is not None
    log = logging.getLogger("updater.service")
    error = HealthCheckError(
        "InnovaCommerce TPV 4.2.1 did not start.",
        hint="The previous version was restored; try again later.",
        details="exit code 3\nlast lines: database locked",
    )
    try:
        raise error from OSError(5, "Input/output error")
    except HealthCheckError:
        pass

    log_failure(log, "tpv", Step.HEALTH_CHECK, error)

    messages = _messages(path)
    assert messages[0] == (
        "ERROR tpv health_check failed: InnovaCommerce TPV 4.2.1 did not start. — "
        "The previous version was restored; try again later. (code=install.health)"
    )
    assert messages[1] == (
        "DEBUG tpv health_check failed details: exit code 3\\nlast lines: database locked"
    )
    assert (
        messages[2] == "DEBUG tpv health_check failed cause: OSError: [Errno 5] Input/output error"
    )
    assert len(messages) == 3


def test_failure_without_a_hint_still_says_what_to_do(tmp_path: Path) -> None:
    path = setup_logging(tmp_path / "logs", stderr=False)
    assert path is not None

    log_failure(logging.getLogger("updater"), None, "check", NetworkError("No connection."))

    (message,) = _messages(path)
    assert message.startswith("ERROR - check failed: No connection. — If this keeps happening")
    assert "support" in message
    assert message.endswith("(code=network)")


def test_failure_line_is_redacted(tmp_path: Path) -> None:
    path = setup_logging(tmp_path / "logs", stderr=False)
    assert path is not None
    error = NetworkError(
        "https://bob:pw@feed.example.com/ cannot be reached.", hint="Check the connection."
    )

    log_failure(logging.getLogger("updater"), "erp", Step.DOWNLOAD, error)

    (message,) = _messages(path)
    assert "bob" not in message
    assert "pw@" not in message
    assert "https://feed.example.com/ cannot be reached." in message


def test_outcome_lines(tmp_path: Path) -> None:
    path = setup_logging(tmp_path / "logs", stderr=False)
    assert path is not None
    log = logging.getLogger("updater.service")

    log_outcome(log, "tpv", "update", "ok", "4.2.0 -> 4.2.1")
    log_outcome(log, "erp", "check", "up-to-date")
    log_outcome(log, None, "recovery", "nothing-to-do")

    assert _messages(path) == [
        "INFO tpv update ok: 4.2.0 -> 4.2.1",
        "INFO erp check up-to-date",
        "INFO - recovery nothing-to-do",
    ]


# --- redaction ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("https://user:pa55@feed.example.com/x", "https://feed.example.com/x"),
        ("get http://tok3n@host:8080/a?b=1 failed", "get http://host:8080/a?b=1 failed"),
        ("ftp://u:p@h and https://v:q@i/", "ftp://h and https://i/"),
        ("password=hunter2 user=bob", "password=*** user=bob"),
        ("--passphrase=open sesame", "--passphrase=*** sesame"),
        ("INNOVA_KEY_PASSPHRASE=abc", "INNOVA_KEY_PASSPHRASE=***"),
        ('{"password": "hun ter2", "user": "bob"}', '{"password": "***", "user": "bob"}'),
        ("{'api_token': 'xyz', 'n': 1}", "{'api_token': '***', 'n': 1}"),
        ("https://h/f?access_token=abc&page=2", "https://h/f?access_token=***&page=2"),
        ("Token: abc Secret: def", "Token: *** Secret: ***"),
        ("Authorization: Bearer abc.def-ghi", "Authorization: Bearer ***"),
        ("{'Authorization': 'Basic dXNlcjpwYXNz'}", "{'Authorization': 'Basic ***'}"),
        ("sent bearer abc123", "sent bearer ***"),
        ("basic checks passed; the token expired", "basic checks passed; the token expired"),
        ("tpv download ok: 4.2.1 (12.0 MiB)", "tpv download ok: 4.2.1 (12.0 MiB)"),
        ("", ""),
        # Connection strings, API and licence keys, options with their value apart:
        ("Server=db;Uid=sa;Pwd=S3cret;Database=shop", "Server=db;Uid=sa;Pwd=***;Database=shop"),
        ("api_key=abc123 next", "api_key=*** next"),
        ("X-Api-Key: abc123", "X-Api-Key: ***"),
        ("{'license_key': 'AAAA-BBBB'}", "{'license_key': '***'}"),
        ("run tool --password hunter2 --user bob", "run tool --password *** --user bob"),
        ("['tool', '--password', 'hunter2', '-v']", "['tool', '--password', '***', '-v']"),
        ("--api-key=k3y", "--api-key=***"),
        ("the license key expired", "the license key expired"),
    ],
)
def test_redact(text: str, expected: str) -> None:
    assert redact(text) == expected
    assert redact(expected) == expected


def test_redact_takes_linear_time_on_long_lines() -> None:
    """A long blob in a message (base64, a wall of digits) must not stall logging."""
    started = time.perf_counter()
    for blob in ("token" + "x" * 200_000, "password " + "a.b" * 70_000, "a://" + "b:" * 100_000):
        redact(blob)
    assert time.perf_counter() - started < 2.0
