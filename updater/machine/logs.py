"""The updater's log: one line per event, in files that rotate, with no secrets in them.

:func:`setup_logging` configures the ``updater`` logger hierarchy (never the root
logger): a rotating ``updater.log`` in the state folder, optionally an extra copy in a
file the person chose, and the console for warnings. Every line has the same shape::

    2026-11-25T14:03:07Z INFO tpv download ok: 4.2.1

that is a UTC timestamp, the level, then the product, the step and the outcome, so a
``grep "tpv download"`` finds the whole story of one stage. Multi-line messages and
tracebacks are folded onto their line (a literal ``\\n`` marks each break) and every line
goes through :func:`redact` before it is written.

:class:`LoggingObserver` turns the engine's :class:`~updater.observer.Observer` calls
into log lines; :func:`log_failure` and :func:`log_outcome` write the lines that end an
operation. The fixed words of a line ("started", "failed", "progress") stay in English
so that logs grep the same in every language; the error messages and hints in them are
the translated ones the person saw.
"""

from __future__ import annotations

import contextlib
import logging
import logging.handlers
import re
import sys
import threading
import time
from pathlib import Path
from typing import ClassVar, TextIO

from updater.errors import UpdaterError
from updater.i18n import _
from updater.observer import Step

__all__ = [
    "BACKUP_COUNT",
    "LOGGER_NAME",
    "LOG_FILE_NAME",
    "MAX_BYTES",
    "LoggingObserver",
    "close_logging",
    "log_failure",
    "log_outcome",
    "redact",
    "setup_logging",
]

#: The logger every module of the updater logs under (``updater.machine.state``,
#: ``updater.feed.trust``...).
LOGGER_NAME = "updater"
#: The name of the rotating log inside the logs folder.
LOG_FILE_NAME = "updater.log"
#: Size at which ``updater.log`` is rotated to ``updater.log.1``.
MAX_BYTES = 1024 * 1024
#: How many rotated files are kept (``updater.log.1`` to ``updater.log.5``).
BACKUP_COUNT = 5

FORMAT = "%(asctime)s %(levelname)s %(message)s"
DATE_FORMAT = "%Y-%m-%dT%H:%M:%SZ"

# The handlers setup_logging installs carry these names, so a second call (or
# close_logging) finds and replaces exactly them, even after the module is reloaded.
_HANDLER_PREFIX = "updater.machine.logs:"
_FILE_HANDLER = _HANDLER_PREFIX + "file"
_EXTRA_HANDLER = _HANDLER_PREFIX + "extra"
_STDERR_HANDLER = _HANDLER_PREFIX + "stderr"

_log = logging.getLogger(__name__)

# --- redaction ---------------------------------------------------------------------------

# scheme://user:password@host -> scheme://host (the user name alone may be a token too).
# The patterns start only where a run of name characters starts (the look-behinds), so
# that a long line (a base64 blob, a wall of digits) costs linear time, not quadratic.
_URL_USERINFO = re.compile(r"(?P<scheme>(?<![A-Za-z0-9+.-])[A-Za-z][A-Za-z0-9+.-]*://)[^/\s@?#]+@")
# The words that make a key name a secret's: password, Pwd (connection strings),
# token, secret, api_key / X-Api-Key, license_key, credentials…
_SECRET_WORD = (
    r"(?:passphrase|password|passwd|pwd|token|secret|api[-_]?key|licen[cs]e[-_]?key"
    r"|credential)"
)
# password=..., "token": "...", INNOVA_KEY_PASSPHRASE=..., ?access_token=...&, Pwd=...;
_SECRET_VALUE = re.compile(
    r"""(?P<key>(?<![\w.-])(?=[\w.-]*?""" + _SECRET_WORD + r""")[\w.-]+)"""
    r"""(?P<sep>["']?\s*[:=]\s*)"""
    r"""(?:"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|[^\s&;"']+)""",
    re.IGNORECASE,
)
# --password value, and in a logged command list: '--password', 'value'
_SECRET_OPTION = re.compile(
    r"""(?P<key>(?<![\w.-])["']?--?[\w.-]*""" + _SECRET_WORD + r"""[\w.-]*["']?)"""
    r"""(?P<sep>\s*,\s*|\s+)"""
    r"""(?!-)(?:"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|[^\s,\]\)"']+)""",
    re.IGNORECASE,
)
# Authorization: Basic <base64>, {'Authorization': 'Bearer <token>'}
_AUTHORIZATION = re.compile(
    r"""(?P<head>\bauthorization["']?\s*[:=]\s*["']?(?:[A-Za-z]+\s+)?)[^\s"'&]+""", re.IGNORECASE
)
# A bearer token on its own.
_BEARER = re.compile(r"\b(?P<scheme>bearer)\s+[A-Za-z0-9._~+/=-]+", re.IGNORECASE)

_MASK = "***"
# Words without which none of the patterns can match: most lines skip the regexes.
_TRIGGERS = (
    "://",
    "passphrase",
    "password",
    "passwd",
    "pwd",
    "token",
    "secret",
    "api",
    "licen",
    "credential",
    "authorization",
    "bearer",
)


def _mask_value(match: re.Match[str]) -> str:
    value = match.group(0)[match.end("sep") - match.start() :]
    quote = value[0] if value[0] in "\"'" and len(value) > 1 else ""
    return f"{match.group('key')}{match.group('sep')}{quote}{_MASK}{quote}"


def redact(text: str) -> str:
    """``text`` without credentials: the ``user:password@`` of URLs is removed, and the
    values of keys named like a passphrase, password (``Pwd`` too), token, secret, API
    key, licence key or credential (``key=value``, ``key: value``, ``"key": "value"``,
    ``--password value``) and of ``Authorization`` headers and bearer tokens are
    replaced by ``***``. Redacting twice gives the same text."""
    lowered = text.lower()
    if not any(trigger in lowered for trigger in _TRIGGERS):
        return text
    text = _URL_USERINFO.sub(r"\g<scheme>", text)
    text = _SECRET_VALUE.sub(_mask_value, text)
    text = _SECRET_OPTION.sub(_mask_value, text)
    text = _AUTHORIZATION.sub(rf"\g<head>{_MASK}", text)
    return _BEARER.sub(rf"\g<scheme> {_MASK}", text)


# --- handlers ----------------------------------------------------------------------------


class _Formatter(logging.Formatter):
    """``FORMAT`` with UTC ISO 8601 times, one line per record, secrets redacted."""

    def __init__(self) -> None:
        super().__init__(FORMAT, DATE_FORMAT)

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        return time.strftime(datefmt or DATE_FORMAT, time.gmtime(record.created))

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\\n")
        return redact(text)


class _RotatingFileHandler(logging.handlers.RotatingFileHandler):
    """A rotating file that keeps logging when it cannot rotate.

    On Windows a rename fails while another process (an antivirus scan, a second
    updater, a text editor) has the file open; the standard handler would then drop the
    record and fail again on every later one. This one keeps appending to the current
    file and tries to rotate again a minute later.
    """

    RETRY_SECONDS: ClassVar[float] = 60.0

    def __init__(self, filename: Path) -> None:
        super().__init__(filename, maxBytes=MAX_BYTES, backupCount=BACKUP_COUNT, encoding="utf-8")
        self._rotation_failed_at: float | None = None

    def shouldRollover(self, record: logging.LogRecord) -> int:  # noqa: N802 - stdlib API
        failed_at = self._rotation_failed_at
        if failed_at is not None and time.monotonic() - failed_at < self.RETRY_SECONDS:
            return False
        return super().shouldRollover(record)

    def doRollover(self) -> None:  # noqa: N802 - stdlib API
        try:
            super().doRollover()
        except OSError:
            self._rotation_failed_at = time.monotonic()
            if self.stream is None:  # closed by the base class before renaming
                self.stream = self._open()
        else:
            self._rotation_failed_at = None


class _ConsoleHandler(logging.StreamHandler[TextIO]):
    """Standard error as it is when each line is written, not when logging was set up:
    pythonw.exe (the tray on Windows) has none at all, and a host (or pytest) may swap it."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    def emit(self, record: logging.LogRecord) -> None:
        if sys.stderr is None:
            return
        self.stream = sys.stderr  # under the handler's lock (Handler.handle holds it)
        super().emit(record)

    def flush(self) -> None:
        with self.lock or contextlib.nullcontext():
            if sys.stderr is not None:
                self.stream = sys.stderr
                super().flush()


def _remove_handlers(logger: logging.Logger) -> None:
    for handler in list(logger.handlers):
        if (handler.name or "").startswith(_HANDLER_PREFIX):
            logger.removeHandler(handler)
            handler.close()


def close_logging() -> None:
    """Remove and close the handlers :func:`setup_logging` installed (releasing the log
    files, which Windows needs before they can be moved or deleted)."""
    _remove_handlers(logging.getLogger(LOGGER_NAME))


def setup_logging(
    logs_dir: Path,
    *,
    log_file: Path | None = None,
    verbose: bool = False,
    stderr: bool = True,
) -> Path | None:
    """Send the ``updater`` loggers to ``logs_dir/updater.log`` and the console.

    ``updater.log`` receives every level, down to DEBUG, and rotates at 1 MiB keeping
    five older files. ``log_file``, when given, receives the same lines without rotation
    (appended). With ``stderr``, warnings and errors (everything with ``verbose``) are
    also written to standard error. The root logger is left alone: records still
    propagate to it, which adds nothing unless a host application gave it handlers.

    Calling it again replaces the handlers of the previous call. Nothing is raised: a
    logs folder that cannot be created or written leaves the console only (even when
    ``stderr`` is false, so that problems are still seen), and a ``log_file`` that
    cannot be opened is skipped; either way a warning says so.

    Returns:
        The path of ``updater.log``, or ``None`` when it cannot be written.
    """
    logger = logging.getLogger(LOGGER_NAME)
    _remove_handlers(logger)
    logger.setLevel(logging.DEBUG)
    formatter = _Formatter()
    problems: list[str] = []

    path: Path | None = logs_dir / LOG_FILE_NAME
    try:
        logs_dir.mkdir(parents=True, exist_ok=True)
        rotating = _RotatingFileHandler(logs_dir / LOG_FILE_NAME)
    except OSError as exc:
        path = None
        message = _("The log cannot be written in {folder} ({error}); it goes to the console only.")
        problems.append(message.format(folder=logs_dir, error=exc.strerror or exc))
    else:
        rotating.set_name(_FILE_HANDLER)
        rotating.setLevel(logging.DEBUG)
        rotating.setFormatter(formatter)
        logger.addHandler(rotating)

    if log_file is not None:
        try:
            log_file.parent.mkdir(parents=True, exist_ok=True)
            extra = logging.FileHandler(log_file, mode="a", encoding="utf-8")
        except OSError as exc:
            message = _("The log file {path} cannot be written ({error}).")
            problems.append(message.format(path=log_file, error=exc.strerror or exc))
        else:
            extra.set_name(_EXTRA_HANDLER)
            extra.setLevel(logging.DEBUG)
            extra.setFormatter(formatter)
            logger.addHandler(extra)

    if stderr or path is None:
        console = _ConsoleHandler()
        console.set_name(_STDERR_HANDLER)
        console.setLevel(logging.DEBUG if verbose else logging.WARNING)
        console.setFormatter(formatter)
        logger.addHandler(console)

    for problem in problems:
        _log.warning("%s", problem)
    return path


# --- what the engine reports -------------------------------------------------------------


def _product(product: str | None) -> str:
    """The first field of a line: the product, ``-`` for the updater as a whole."""
    return product or "-"


def _size(count: float) -> str:
    """``count`` bytes for a person: ``512 B``, ``4.0 MiB``."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(count) < 1024 or unit == "GiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


class LoggingObserver:
    """An :class:`~updater.observer.Observer` that writes what the engine reports to a log.

    Each stage start is an INFO line (``tpv stage started``); journal entries and
    progress are DEBUG lines, progress at most once per ``progress_every`` percent of a
    stage (and, when the total is unknown, each time the amount done has doubled). It
    never asks to cancel. Compose it with the person's observer through
    :class:`~updater.observer.Observers`.
    """

    def __init__(self, logger: logging.Logger | None = None, *, progress_every: int = 10) -> None:
        if not 1 <= progress_every <= 100:
            raise ValueError(f"progress_every must be between 1 and 100, not {progress_every}")
        self._logger = logger if logger is not None else logging.getLogger("updater.observer")
        self._every = progress_every
        self._lock = threading.Lock()
        # (product, step) -> (percent bucket last logged or -1 when the total is unknown,
        # bytes done at that line)
        self._progress: dict[tuple[str, str], tuple[int, int]] = {}

    def step(self, product: str, step: Step) -> None:
        with self._lock:
            self._progress.pop((product, str(step)), None)
        self._logger.info("%s %s started", _product(product), step)

    def progress(
        self, product: str, step: Step, done: int, total: int | None, rate: float | None = None
    ) -> None:
        if not self._logger.isEnabledFor(logging.DEBUG):
            return
        key = (product, str(step))
        percent = -1
        with self._lock:
            previous = self._progress.get(key)
            if previous is not None and done < previous[1]:
                previous = None  # the stage started over (a retry)
            if total is not None and total > 0:
                percent = min(done * 100 // total, 100)
                bucket = percent // self._every
                if previous is not None and bucket <= previous[0]:
                    return
            else:
                bucket = percent
                if previous is not None and done < max(2 * previous[1], previous[1] + 1):
                    return
            self._progress[key] = (bucket, done)
        speed = f", {_size(rate)}/s" if rate is not None else ""
        if total is not None and percent >= 0:
            self._logger.debug(
                "%s %s progress %d%% (%s of %s%s)",
                _product(product), step, percent, _size(done), _size(total), speed,
            )  # fmt: skip
        else:
            self._logger.debug(
                "%s %s progress %s (total unknown%s)", _product(product), step, _size(done), speed
            )

    def journal(self, product: str, entry: str) -> None:
        self._logger.debug("%s journal recorded: %s", _product(product), entry)

    def cancelled(self) -> bool:
        return False


def log_failure(
    logger: logging.Logger, product: str | None, step: str, error: UpdaterError
) -> None:
    """Log that ``step`` of ``product`` failed, saying what happened and what to do.

    One ERROR line, ``tpv download failed: <message> — <hint> (code=network)``; an error
    without a hint gets the general advice to contact support with this log. The error's
    technical ``details`` (when it has any) and the exception that caused it follow as
    DEBUG lines.
    """
    hint = error.hint or _(
        "If this keeps happening, contact InnovaCommerce support and give them the details "
        "from the updater's log."
    )
    name = _product(product)
    logger.error("%s %s failed: %s — %s (code=%s)", name, step, error.message, hint, error.code)
    details = getattr(error, "details", None)
    if details:
        logger.debug("%s %s failed details: %s", name, step, details)
    cause = error.__cause__ or error.__context__
    if cause is not None:
        logger.debug("%s %s failed cause: %s: %s", name, step, type(cause).__name__, cause)


def log_outcome(
    logger: logging.Logger, product: str | None, operation: str, outcome: str, detail: str = ""
) -> None:
    """Log how ``operation`` ended for ``product`` as one INFO line:
    ``tpv update ok: 4.2.0 -> 4.2.1`` (without the colon when there is no ``detail``)."""
    if detail:
        logger.info("%s %s %s: %s", _product(product), operation, outcome, detail)
    else:
        logger.info("%s %s %s", _product(product), operation, outcome)
