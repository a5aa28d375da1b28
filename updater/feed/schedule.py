"""When to look for updates: a polite polling schedule, and an offline view of the last check.

Thousands of shops poll the same feed, so *when* each one asks matters as much as what
it asks. Everything here is pure and deterministic: the functions take the current time
and a :class:`random.Random` and return the next :class:`PollState`; they never sleep,
start threads or read the clock. The tray app and the scheduled task call them, store
the result with :class:`PollStore` and check when :func:`is_due` says so.

The rules
    * After a successful check the next one comes ``interval`` later, stretched or
      shrunk at random by up to ``jitter`` (±25 % by default), so that shops drift apart
      instead of all asking at the same minute every day.
    * A check that found a release on offer in a *staged* rollout (below 100 %) comes
      back after ``staged_interval`` instead (30 min by default, with the same jitter):
      if the publisher halts that rollout, the PCs that were offered the release hear
      of it within the hour instead of at their next check hours later. Only those PCs
      poll faster, and a check when nothing changed costs two small requests, so the
      feed's load hardly moves (``docs/benchmarks.md``, fleet).
    * After a failed check the client backs off exponentially with *full jitter*: the
      delay is uniform between 0 and ``min(backoff_max, backoff_base * 2**failures)``,
      where ``failures`` counts the failures before this one (so the first retry comes
      within ``backoff_base``). When the server said when to come back (``Retry-After``
      on a 429 or 503), the client waits at least that long, up to ``retry_after_max``.
    * When the app starts, a check that is already scheduled is kept unless it is
      implausibly far away (a clock that jumped, a damaged file); otherwise, and when the
      scheduled time has passed while the PC was off, the first check comes at a random
      moment within ``initial_delay_max``, so that shops that boot together (every
      morning, after a power cut) do not hit the server together.
    * No delay after a check is ever shorter than :data:`MIN_DELAY`.

Times are timezone-aware and kept in UTC; a naive :class:`~datetime.datetime` is refused
with :class:`ValueError`, because guessing its zone would move checks by hours.

Persistence
    :class:`PollStore` keeps the :class:`PollState` as JSON (``poll.json`` in the state
    folder). A missing or damaged file gives a fresh state: the schedule never stops the
    updater. :func:`save_last_check` and :func:`load_last_check` keep a
    :class:`LastCheck` (``last-check.json``), what the last verified check found, so that
    the tray can show it while the feed cannot be reached, until the signed metadata it
    came from expires (:func:`usable_offline`). Both files are replaced atomically: a
    temporary file is written and fsynced, then moved into place with ``os.replace``.
"""

from __future__ import annotations

import email.utils
import json
import logging
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from random import Random
from typing import TYPE_CHECKING, Any

from updater.errors import StorageError
from updater.fsutil import write_atomic
from updater.i18n import _

if TYPE_CHECKING:
    from updater.machine.config import MachineConfig

__all__ = [
    "LAST_CHECK_FILE",
    "MAX_INTERVAL",
    "MIN_DELAY",
    "MIN_INTERVAL",
    "POLL_FILE",
    "LastCheck",
    "PollPolicy",
    "PollState",
    "PollStore",
    "backoff_ceiling",
    "is_due",
    "load_last_check",
    "next_after_failure",
    "next_after_success",
    "next_on_start",
    "parse_retry_after",
    "save_last_check",
    "usable_offline",
]

log = logging.getLogger(__name__)

#: The file of the :class:`PollState`, in the state folder.
POLL_FILE = "poll.json"
#: The file of the :class:`LastCheck`, in the state folder.
LAST_CHECK_FILE = "last-check.json"

#: The shortest delay between a check and the next one, whatever the policy says.
MIN_DELAY = timedelta(minutes=1)
#: :meth:`PollPolicy.from_config` never polls more often than this (a configured
#: interval of a few seconds, times thousands of shops, would be an attack).
MIN_INTERVAL = timedelta(minutes=15)
#: :meth:`PollPolicy.from_config` never polls less often than this.
MAX_INTERVAL = timedelta(days=30)

#: The version of the JSON files written here; others are read as damaged.
_FORMAT = 1
#: ``2**failures`` stops growing here (any cap is reached long before).
_MAX_EXPONENT = 64
#: Retry-After values (seconds) above this are read as this (they are capped anyway).
_MAX_RETRY_AFTER = 10**12
_DELAY_SECONDS = re.compile(r"[+-]?[0-9]+", re.ASCII)
_SHA256 = re.compile(r"[0-9a-f]{64}", re.ASCII)
_LATEST = datetime.max.replace(tzinfo=UTC)


# --- the model ----------------------------------------------------------------------------


@dataclass(frozen=True)
class PollPolicy:
    """How often to poll and how to back off; the defaults suit a feed polled by thousands.

    Attributes:
        interval: The usual time between two successful checks.
        jitter: The next check after a success comes ``interval`` times a random factor
            in ``[1 - jitter, 1 + jitter]``; ``0 <= jitter < 1``.
        initial_delay_max: After a start with nothing usable scheduled, the first check
            comes at a random moment within this.
        backoff_base: The longest first retry after a failure; each further failure
            doubles it, up to ``backoff_max``.
        backoff_max: The cap of the exponential backoff.
        retry_after_max: A server's ``Retry-After`` is honoured up to this long.
        staged_interval: The time between two successful checks while a release in a
            staged rollout is on offer (never longer than ``interval``).

    Raises:
        ValueError: A value makes no sense (a delay that is not positive, or a jitter
            outside ``[0, 1)``).
    """

    interval: timedelta = timedelta(hours=6)
    jitter: float = 0.25
    initial_delay_max: timedelta = timedelta(minutes=30)
    backoff_base: timedelta = timedelta(minutes=5)
    backoff_max: timedelta = timedelta(hours=6)
    retry_after_max: timedelta = timedelta(hours=12)
    staged_interval: timedelta = timedelta(minutes=30)

    def __post_init__(self) -> None:
        for name in ("interval", "staged_interval"):
            positive: timedelta = getattr(self, name)
            if positive <= timedelta(0):
                raise ValueError(f"{name} must be positive, not {positive}")
        if not (math.isfinite(self.jitter) and 0 <= self.jitter < 1):
            raise ValueError(f"jitter must be at least 0 and below 1, not {self.jitter!r}")
        if self.backoff_base <= timedelta(0):
            raise ValueError(f"backoff_base must be positive, not {self.backoff_base}")
        for name in ("initial_delay_max", "backoff_max", "retry_after_max"):
            value: timedelta = getattr(self, name)
            if value < timedelta(0):
                raise ValueError(f"{name} must not be negative, not {value}")

    @classmethod
    def from_config(cls, config: MachineConfig) -> PollPolicy:
        """The default policy with this PC's ``check_interval_hours`` as the interval.

        The interval is kept between :data:`MIN_INTERVAL` and :data:`MAX_INTERVAL`
        whatever the configuration says (it only requires a positive number).
        """
        seconds = config.check_interval_hours * 3600.0
        low, high = MIN_INTERVAL.total_seconds(), MAX_INTERVAL.total_seconds()
        if not math.isfinite(seconds):
            seconds = high
        return cls(interval=timedelta(seconds=min(max(seconds, low), high)))

    @property
    def longest_wait(self) -> timedelta:
        """The longest delay this policy can schedule after a check (success or failure)."""
        return max(
            self.interval * (1 + self.jitter), self.backoff_max, self.retry_after_max, MIN_DELAY
        )


@dataclass(frozen=True)
class PollState:
    """What the schedule remembers between runs (see :class:`PollStore`).

    Attributes:
        last_attempt: When the last check started, successful or not.
        last_success: When a check last succeeded.
        consecutive_failures: Failed checks since the last success.
        next_check: When the next check is due; ``None``: nothing scheduled yet.

    Raises:
        ValueError: A time is naive, or ``consecutive_failures`` is negative.
    """

    last_attempt: datetime | None = None
    last_success: datetime | None = None
    consecutive_failures: int = 0
    next_check: datetime | None = None

    def __post_init__(self) -> None:
        for name in ("last_attempt", "last_success", "next_check"):
            value: datetime | None = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, _utc(value, name))
        failures = self.consecutive_failures
        if isinstance(failures, bool) or not isinstance(failures, int) or failures < 0:
            raise ValueError(f"consecutive_failures must be a whole number >= 0, not {failures!r}")


@dataclass(frozen=True)
class LastCheck:
    """What the last successful, verified check found, for showing while offline.

    Attributes:
        checked_at: When the check was made.
        channel: The release channel it was made for.
        manifest_sha256: The SHA-256 (64 lowercase hex digits) of the verified release
            manifest it read.
        expires: The earliest expiry of the signed (TUF) metadata it was verified with;
            after that, nothing it says can be trusted any more.
        summary: For each product id, the version it offered, or ``None`` when there was
            nothing to update to. The mapping is copied.

    Raises:
        ValueError: A time is naive, the hash is not a SHA-256 in hex, the channel is
            empty, or the summary is not made of strings.
    """

    checked_at: datetime
    channel: str
    manifest_sha256: str
    expires: datetime
    summary: dict[str, str | None] = field(hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "checked_at", _utc(self.checked_at, "checked_at"))
        object.__setattr__(self, "expires", _utc(self.expires, "expires"))
        if not isinstance(self.channel, str) or not self.channel:
            raise ValueError(f"channel must be a non-empty string, not {self.channel!r}")
        if not isinstance(self.manifest_sha256, str) or not _SHA256.fullmatch(self.manifest_sha256):
            raise ValueError(
                f"manifest_sha256 must be 64 lowercase hex digits, not {self.manifest_sha256!r}"
            )
        if not isinstance(self.summary, Mapping):
            raise ValueError(f"summary must be a mapping, not {self.summary!r}")
        summary = dict(self.summary)
        for product, version in summary.items():
            if not isinstance(product, str) or not (version is None or isinstance(version, str)):
                raise ValueError(f"summary entries must be str -> str | None: {product!r}")
        object.__setattr__(self, "summary", summary)


# --- deciding when ------------------------------------------------------------------------


def next_after_success(
    state: PollState, now: datetime, policy: PollPolicy, rng: Random, *, staged: bool = False
) -> PollState:
    """The state after a successful check at ``now``: failures reset, next check in
    ``interval * uniform(1 - jitter, 1 + jitter)`` (at least :data:`MIN_DELAY`).

    ``staged``: the check found a release on offer in a staged rollout; the next check
    then comes after ``staged_interval`` (or ``interval`` when that is shorter), so that
    a halt of the rollout reaches this PC soon.
    """
    now = _utc(now, "now")
    interval = min(policy.interval, policy.staged_interval) if staged else policy.interval
    factor = rng.uniform(1 - policy.jitter, 1 + policy.jitter)
    delay = max(interval.total_seconds() * factor, MIN_DELAY.total_seconds())
    return PollState(
        last_attempt=now,
        last_success=now,
        consecutive_failures=0,
        next_check=_later(now, delay),
    )


def backoff_ceiling(failures: int, policy: PollPolicy) -> timedelta:
    """The longest backoff after a failure that followed ``failures`` earlier ones:
    ``min(backoff_max, backoff_base * 2**failures)`` (the actual delay is random below it).
    """
    if failures < 0:
        raise ValueError(f"failures must not be negative, not {failures}")
    ceiling = min(
        policy.backoff_max.total_seconds(),
        policy.backoff_base.total_seconds() * 2.0 ** min(failures, _MAX_EXPONENT),
    )
    return timedelta(seconds=ceiling)


def next_after_failure(
    state: PollState,
    now: datetime,
    policy: PollPolicy,
    rng: Random,
    *,
    retry_after: float | None = None,
) -> PollState:
    """The state after a failed check at ``now``.

    The delay is ``uniform(0, backoff_ceiling(state.consecutive_failures))`` ("full
    jitter"), but at least :data:`MIN_DELAY`. ``retry_after`` is the server's
    ``Retry-After`` in seconds (see :func:`parse_retry_after`): the delay is then at
    least that, capped at ``policy.retry_after_max`` (a negative value counts as 0, a
    NaN as absent). ``last_success`` is kept.
    """
    now = _utc(now, "now")
    ceiling = backoff_ceiling(state.consecutive_failures, policy).total_seconds()
    delay = max(rng.uniform(0.0, ceiling), MIN_DELAY.total_seconds())
    if retry_after is not None and not math.isnan(retry_after):
        honoured = min(max(retry_after, 0.0), policy.retry_after_max.total_seconds())
        delay = max(delay, honoured)
    return PollState(
        last_attempt=now,
        last_success=state.last_success,
        consecutive_failures=state.consecutive_failures + 1,
        next_check=_later(now, delay),
    )


def next_on_start(state: PollState, now: datetime, policy: PollPolicy, rng: Random) -> PollState:
    """The state when the tray app or the scheduled task starts at ``now``.

    A ``next_check`` still in the future is kept if it is no further away than the
    policy could have scheduled it: ``interval * (1 + jitter)`` after a success, and
    also ``backoff_max`` or ``retry_after_max`` while failures are being backed off
    (so a restart never cuts short a server's ``Retry-After``). Anything else (nothing
    scheduled, a time that has passed, or one implausibly far away because the clock
    jumped or the file was edited) becomes ``now + uniform(0, initial_delay_max)``.
    """
    now = _utc(now, "now")
    scheduled = state.next_check
    if scheduled is not None and scheduled > now:
        horizon = policy.interval * (1 + policy.jitter)
        if state.consecutive_failures > 0:
            horizon = policy.longest_wait
        if scheduled - now <= horizon:
            return state
    delay = rng.uniform(0.0, policy.initial_delay_max.total_seconds())
    return PollState(
        last_attempt=state.last_attempt,
        last_success=state.last_success,
        consecutive_failures=state.consecutive_failures,
        next_check=_later(now, delay),
    )


def is_due(state: PollState, now: datetime) -> bool:
    """Whether a check should run at ``now``: its time has come, or none is scheduled.

    Callers run :func:`next_on_start` first, which always schedules one.
    """
    now = _utc(now, "now")
    return state.next_check is None or now >= state.next_check


def parse_retry_after(value: str, now: datetime) -> float | None:
    """The seconds to wait that an HTTP ``Retry-After`` header asks for, from ``now``.

    The header holds either a number of seconds (``"120"``) or an HTTP date
    (``"Wed, 21 Oct 2026 07:28:00 GMT"``). A negative wait (a date in the past) is 0;
    anything else that is not one of those (empty, garbage, a fraction) is ``None``.
    Absurdly large values are cut to 10¹² seconds (callers cap them much lower anyway).
    """
    now = _utc(now, "now")
    text = value.strip()
    if _DELAY_SECONDS.fullmatch(text):
        digits = text.lstrip("+-").lstrip("0")
        if text.startswith("-"):
            return 0.0
        if len(digits) > len(str(_MAX_RETRY_AFTER)):
            return float(_MAX_RETRY_AFTER)
        return float(min(int(digits or "0"), _MAX_RETRY_AFTER))
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:  # "-0000": UTC, with no claim about the local zone
        when = when.replace(tzinfo=UTC)
    try:
        seconds = (when - now).total_seconds()
    except OverflowError:
        return None
    return min(max(seconds, 0.0), float(_MAX_RETRY_AFTER))


def usable_offline(last: LastCheck, now: datetime) -> bool:
    """Whether ``last`` may still be shown: until the metadata it was verified with expires."""
    return _utc(now, "now") < last.expires


# --- persistence --------------------------------------------------------------------------


class PollStore:
    """Loads and saves the :class:`PollState` in one JSON file (normally ``poll.json``).

    Loading never fails: a missing file is a fresh state, and so (with a warning in
    the log) is a damaged one. Saving replaces the file atomically.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def in_state_dir(cls, root: Path) -> PollStore:
        """The store of the state folder ``root`` (``root / "poll.json"``)."""
        return cls(root / POLL_FILE)

    def load(self) -> PollState:
        """The saved state; a fresh :class:`PollState` if there is none or it is damaged."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return PollState()
        except OSError as exc:
            log.warning("Cannot read the poll schedule %s, starting afresh: %s", self.path, exc)
            return PollState()
        try:
            data = _load_json_object(raw)
            failures = data["consecutive_failures"]
            if isinstance(failures, bool) or not isinstance(failures, int):
                raise ValueError(f"consecutive_failures is {failures!r}")
            return PollState(
                last_attempt=_parse_time(data["last_attempt"]),
                last_success=_parse_time(data["last_success"]),
                consecutive_failures=failures,
                next_check=_parse_time(data["next_check"]),
            )
        except (ValueError, TypeError, KeyError, RecursionError) as exc:
            log.warning("Ignoring the damaged poll schedule %s: %s", self.path, exc)
            return PollState()

    def save(self, state: PollState) -> None:
        """Write ``state``, replacing the file atomically (its folder is created).

        Raises:
            StorageError: The file cannot be written (disk full, permissions). The
                schedule still works in memory: log it and carry on.
        """
        _write_json(
            self.path,
            {
                "version": _FORMAT,
                "last_attempt": _format_time(state.last_attempt),
                "last_success": _format_time(state.last_success),
                "consecutive_failures": state.consecutive_failures,
                "next_check": _format_time(state.next_check),
            },
        )


def save_last_check(path: Path, last: LastCheck) -> None:
    """Write ``last`` to ``path`` (normally ``last-check.json``), atomically.

    Raises:
        StorageError: The file cannot be written.
    """
    _write_json(
        path,
        {
            "version": _FORMAT,
            "checked_at": _format_time(last.checked_at),
            "channel": last.channel,
            "manifest_sha256": last.manifest_sha256,
            "expires": _format_time(last.expires),
            "summary": dict(last.summary),
        },
    )


def load_last_check(path: Path) -> LastCheck | None:
    """The :class:`LastCheck` saved in ``path``; ``None`` if there is none or it is damaged."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        log.warning("Cannot read the last check %s: %s", path, exc)
        return None
    try:
        data = _load_json_object(raw)
        checked_at = _parse_time(data["checked_at"])
        expires = _parse_time(data["expires"])
        summary = data["summary"]
        if checked_at is None or expires is None or not isinstance(summary, dict):
            raise ValueError("a time or the summary is missing")
        return LastCheck(
            checked_at=checked_at,
            channel=data["channel"],
            manifest_sha256=data["manifest_sha256"],
            expires=expires,
            summary=summary,
        )
    except (ValueError, TypeError, KeyError, RecursionError) as exc:
        log.warning("Ignoring the damaged last check %s: %s", path, exc)
        return None


# --- helpers ------------------------------------------------------------------------------


def _utc(moment: datetime, name: str) -> datetime:
    """``moment`` in UTC; :class:`ValueError` if it is naive (its zone unknown)."""
    if not isinstance(moment, datetime):
        raise TypeError(f"{name} must be a datetime, not {type(moment).__name__}")
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware (UTC), not naive: {moment!r}")
    return moment.astimezone(UTC)


def _later(now: datetime, seconds: float) -> datetime:
    """``now`` plus ``seconds``, or the end of time if that is beyond what datetime holds."""
    try:
        return now + timedelta(seconds=seconds)
    except OverflowError:
        return _LATEST


def _format_time(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat()


def _parse_time(value: object) -> datetime | None:
    """A time as :func:`_format_time` writes it; naive or malformed ones are damage."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"not a time: {value!r}")
    return _utc(datetime.fromisoformat(value), "time")


def _load_json_object(raw: bytes) -> dict[str, Any]:
    data = json.loads(raw)
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    if data.get("version") != _FORMAT:
        raise ValueError(f"unknown format version {data.get('version')!r}")
    return data


def _write_json(path: Path, data: Mapping[str, object]) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`updater.fsutil.write_atomic`)."""
    payload = (json.dumps(data, indent=2, sort_keys=True) + "\n").encode("utf-8")
    try:
        write_atomic(path, payload)
    except OSError as exc:
        raise StorageError(
            _("Cannot write to the updater's folder {path}: {error}").format(
                path=path, error=exc.strerror or exc
            ),
            hint=_("Check the disk space and the folder's permissions."),
        ) from exc
