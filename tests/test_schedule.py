"""The polling schedule: jitter, spreading, backoff, Retry-After, persistence, offline view.

Everything is deterministic: each simulated shop gets a :class:`random.Random` seeded
with its number, and time is passed in, never read from the clock.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from random import Random

import pytest

from updater.errors import StorageError
from updater.feed.schedule import (
    LAST_CHECK_FILE,
    MAX_INTERVAL,
    MIN_DELAY,
    MIN_INTERVAL,
    POLL_FILE,
    LastCheck,
    PollPolicy,
    PollState,
    PollStore,
    backoff_ceiling,
    is_due,
    load_last_check,
    next_after_failure,
    next_after_success,
    next_on_start,
    parse_retry_after,
    save_last_check,
    usable_offline,
)
from updater.machine.config import FeedConfig, MachineConfig

NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
POLICY = PollPolicy()
SHOPS = 10_000
SHA = "ab" * 32


class Lowest(Random):
    """A Random whose ``uniform`` always returns the lower bound."""

    def uniform(self, a: float, b: float) -> float:
        return a


class Highest(Random):
    """A Random whose ``uniform`` always returns the upper bound."""

    def uniform(self, a: float, b: float) -> float:
        return b


def delay(state: PollState, now: datetime = NOW) -> timedelta:
    assert state.next_check is not None
    return state.next_check - now


def failed(times: int, policy: PollPolicy = POLICY) -> PollState:
    """The state after ``times`` failures in a row."""
    state = PollState()
    rng = Random(0)
    for _ in range(times):
        state = next_after_failure(state, NOW, policy, rng)
    return state


def config(hours: float, tmp_path: Path) -> MachineConfig:
    return MachineConfig(
        source=None,
        state_dir=tmp_path,
        feed=FeedConfig(url="https://feed.example/", root=tmp_path / "root.json"),
        products={},
        check_interval_hours=hours,
    )


# --- the policy ---------------------------------------------------------------------------


def test_policy_defaults() -> None:
    assert POLICY.interval == timedelta(hours=6)
    assert POLICY.jitter == 0.25
    assert POLICY.initial_delay_max == timedelta(minutes=30)
    assert POLICY.backoff_base == timedelta(minutes=5)
    assert POLICY.backoff_max == timedelta(hours=6)
    assert POLICY.retry_after_max == timedelta(hours=12)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"interval": timedelta(0)},
        {"interval": timedelta(hours=-1)},
        {"jitter": -0.1},
        {"jitter": 1.0},
        {"jitter": math.nan},
        {"backoff_base": timedelta(0)},
        {"backoff_max": timedelta(seconds=-1)},
        {"initial_delay_max": timedelta(seconds=-1)},
        {"retry_after_max": timedelta(seconds=-1)},
    ],
)
def test_policy_refuses_nonsense(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        PollPolicy(**kwargs)  # type: ignore[arg-type]


def test_policy_from_config_uses_the_interval(tmp_path: Path) -> None:
    assert PollPolicy.from_config(config(1.5, tmp_path)).interval == timedelta(hours=1.5)
    assert PollPolicy.from_config(config(6, tmp_path)) == POLICY


@pytest.mark.parametrize(
    ("hours", "expected"),
    [(0.001, MIN_INTERVAL), (1e6, MAX_INTERVAL), (1e308, MAX_INTERVAL)],
)
def test_policy_from_config_keeps_the_interval_reasonable(
    hours: float, expected: timedelta, tmp_path: Path
) -> None:
    assert PollPolicy.from_config(config(hours, tmp_path)).interval == expected


# --- after a success ----------------------------------------------------------------------


def test_success_jitter_stays_within_bounds_and_varies() -> None:
    factors = [
        delay(next_after_success(PollState(), NOW, POLICY, Random(seed))) / POLICY.interval
        for seed in range(2000)
    ]
    assert all(0.75 <= f <= 1.25 for f in factors)
    assert len(set(factors)) > 1990  # different shops, different times
    assert min(factors) < 0.76 and max(factors) > 1.24  # the whole range is used


def test_success_is_deterministic_for_a_seed() -> None:
    first = next_after_success(PollState(), NOW, POLICY, Random(42))
    assert next_after_success(PollState(), NOW, POLICY, Random(42)) == first
    assert next_after_success(PollState(), NOW, POLICY, Random(43)) != first


def test_success_bounds_are_reached_exactly() -> None:
    assert delay(next_after_success(PollState(), NOW, POLICY, Lowest())) == timedelta(hours=4.5)
    assert delay(next_after_success(PollState(), NOW, POLICY, Highest())) == timedelta(hours=7.5)


def test_success_records_the_check_and_resets_failures() -> None:
    before = failed(5)
    assert before.consecutive_failures == 5
    after = next_after_success(before, NOW, POLICY, Random(1))
    assert after.consecutive_failures == 0
    assert after.last_attempt == NOW
    assert after.last_success == NOW
    # The backoff starts again from the base.
    retry = next_after_failure(after, NOW, POLICY, Random(1))
    assert retry.consecutive_failures == 1
    assert delay(retry) <= POLICY.backoff_base


def test_a_staged_offer_brings_the_next_check_within_the_staged_interval() -> None:
    assert POLICY.staged_interval == timedelta(minutes=30)
    low = delay(next_after_success(PollState(), NOW, POLICY, Lowest(), staged=True))
    high = delay(next_after_success(PollState(), NOW, POLICY, Highest(), staged=True))
    assert (low, high) == (timedelta(minutes=22.5), timedelta(minutes=37.5))
    # Without a staged offer the usual interval holds.
    assert delay(next_after_success(PollState(), NOW, POLICY, Lowest())) == timedelta(hours=4.5)


def test_a_staged_interval_longer_than_the_interval_never_slows_the_checks() -> None:
    policy = PollPolicy(interval=timedelta(minutes=20), staged_interval=timedelta(hours=2))
    got = delay(next_after_success(PollState(), NOW, policy, Highest(), staged=True))
    assert got == timedelta(minutes=25)


def test_a_staged_interval_must_be_positive() -> None:
    with pytest.raises(ValueError, match="staged_interval"):
        PollPolicy(staged_interval=timedelta(0))


def test_success_never_schedules_below_the_minimum() -> None:
    tiny = PollPolicy(interval=timedelta(seconds=5))
    assert delay(next_after_success(PollState(), NOW, tiny, Random(3))) == MIN_DELAY


# --- on start -----------------------------------------------------------------------------


def minute_histogram(states: list[PollState], now: datetime = NOW) -> Counter[int]:
    return Counter(int(delay(s, now) / timedelta(minutes=1)) for s in states)


def test_shops_booting_together_spread_their_first_check() -> None:
    states = [next_on_start(PollState(), NOW, POLICY, Random(shop)) for shop in range(SHOPS)]
    delays = [delay(s) for s in states]
    assert all(timedelta(0) <= d <= POLICY.initial_delay_max for d in delays)
    window = int(POLICY.initial_delay_max / timedelta(minutes=1))
    per_minute = minute_histogram(states)
    average = SHOPS / window
    assert set(per_minute) <= set(range(window + 1))
    assert all(per_minute[m] > 0 for m in range(window))  # the whole window is used
    assert max(per_minute.values()) <= 3 * average
    assert max(delays) - min(delays) > POLICY.initial_delay_max * 0.95


def test_shops_back_after_a_power_cut_spread_too() -> None:
    """Every shop's check fell due while the power was off: they must not all ask now."""
    overdue = PollState(
        last_attempt=NOW - timedelta(hours=20),
        last_success=NOW - timedelta(hours=20),
        next_check=NOW - timedelta(hours=14),
    )
    states = [next_on_start(overdue, NOW, POLICY, Random(shop)) for shop in range(SHOPS)]
    per_minute = minute_histogram(states)
    assert all(timedelta(0) <= delay(s) <= POLICY.initial_delay_max for s in states)
    assert max(per_minute.values()) <= 3 * SHOPS / 30
    assert not any(is_due(s, NOW) for s in states if delay(s) > timedelta(0))
    # Only the schedule changes.
    assert states[0].last_success == overdue.last_success


def test_start_keeps_a_plausible_future_check() -> None:
    soon = PollState(last_success=NOW, next_check=NOW + timedelta(hours=7))
    assert next_on_start(soon, NOW, POLICY, Random(0)) == soon
    edge = PollState(next_check=NOW + POLICY.interval * 1.25)
    assert next_on_start(edge, NOW, POLICY, Random(0)) == edge


def test_start_replaces_an_implausibly_distant_check() -> None:
    """A clock that jumped back, or an edited file, must not stop checks for weeks."""
    far = PollState(last_success=NOW, next_check=NOW + timedelta(days=30))
    started = next_on_start(far, NOW, POLICY, Random(0))
    assert timedelta(0) <= delay(started) <= POLICY.initial_delay_max
    assert started.last_success == NOW


def test_start_keeps_a_servers_retry_after_across_a_restart() -> None:
    backing_off = next_after_failure(PollState(), NOW, POLICY, Random(0), retry_after=10 * 3600)
    assert delay(backing_off) == timedelta(hours=10)  # beyond interval * (1 + jitter)
    later = NOW + timedelta(minutes=5)
    assert next_on_start(backing_off, later, POLICY, Random(0)) == backing_off
    assert not is_due(backing_off, later)


def test_start_replaces_a_check_too_far_even_while_backing_off() -> None:
    state = PollState(consecutive_failures=3, next_check=NOW + timedelta(days=2))
    started = next_on_start(state, NOW, POLICY, Random(0))
    assert delay(started) <= POLICY.initial_delay_max
    assert started.consecutive_failures == 3


def test_start_with_a_check_due_right_now_spreads_it() -> None:
    state = PollState(next_check=NOW)
    assert delay(next_on_start(state, NOW, POLICY, Highest())) == POLICY.initial_delay_max


# --- after a failure ----------------------------------------------------------------------


def test_backoff_ceiling_grows_exponentially_and_is_capped() -> None:
    base = POLICY.backoff_base
    assert [backoff_ceiling(n, POLICY) for n in range(7)] == [base * 2**n for n in range(7)]
    assert backoff_ceiling(7, POLICY) == POLICY.backoff_max  # 5 min * 128 > 6 h
    assert backoff_ceiling(100, POLICY) == POLICY.backoff_max
    assert backoff_ceiling(10**9, POLICY) == POLICY.backoff_max  # no overflow
    with pytest.raises(ValueError):
        backoff_ceiling(-1, POLICY)


def test_backoff_delays_grow_exponentially_and_are_capped() -> None:
    """Over many shops, the n-th retry's delays fill [1 min, ceiling] and the mean doubles."""
    means: list[float] = []
    for failures in range(10):
        state = PollState(consecutive_failures=failures)
        delays = [
            delay(next_after_failure(state, NOW, POLICY, Random(seed))).total_seconds()
            for seed in range(2000)
        ]
        ceiling = backoff_ceiling(failures, POLICY).total_seconds()
        assert all(MIN_DELAY.total_seconds() <= d <= ceiling for d in delays)
        assert max(delays) > 0.98 * ceiling
        means.append(sum(delays) / len(delays))
    for failures in range(1, 7):  # doubling, until the cap
        assert 1.7 < means[failures] / means[failures - 1] < 2.3
    assert means[9] == pytest.approx(means[8], rel=0.1)  # capped
    assert means[9] == pytest.approx(POLICY.backoff_max.total_seconds() / 2, rel=0.1)


def test_backoff_uses_full_jitter() -> None:
    state = PollState(consecutive_failures=4)  # ceiling 80 minutes
    delays = [delay(next_after_failure(state, NOW, POLICY, Random(seed))) for seed in range(500)]
    assert len(set(delays)) > 490
    assert min(delays) < timedelta(minutes=5)  # "full": anywhere from (almost) 0 ...
    assert max(delays) > timedelta(minutes=75)  # ... to the ceiling


def test_shops_failing_together_retry_apart() -> None:
    """The feed was down for everyone at once: the retries must not come back as a wave."""
    state = PollState(consecutive_failures=3)  # ceiling 40 minutes
    states = [next_after_failure(state, NOW, POLICY, Random(shop)) for shop in range(SHOPS)]
    per_minute = minute_histogram(states)
    assert max(per_minute.values()) <= 3 * SHOPS / 40


def test_backoff_never_retries_within_a_minute() -> None:
    retry = next_after_failure(PollState(), NOW, POLICY, Lowest())
    assert delay(retry) == MIN_DELAY
    assert delay(next_after_failure(PollState(), NOW, POLICY, Highest())) == POLICY.backoff_base


def test_failure_counts_and_keeps_the_last_success() -> None:
    ok = next_after_success(PollState(), NOW - timedelta(hours=6), POLICY, Random(0))
    state = ok
    for n in range(1, 4):
        state = next_after_failure(state, NOW, POLICY, Random(n))
        assert state.consecutive_failures == n
        assert state.last_attempt == NOW
        assert state.last_success == NOW - timedelta(hours=6)


@pytest.mark.parametrize("seed", range(50))
def test_retry_after_seconds_is_honoured(seed: int) -> None:
    retry = next_after_failure(PollState(), NOW, POLICY, Random(seed), retry_after=3600)
    assert delay(retry) == timedelta(hours=1)  # longer than the backoff (<= 5 min)


def test_retry_after_below_the_backoff_keeps_the_backoff() -> None:
    state = PollState(consecutive_failures=6)  # ceiling 320 minutes
    retry = next_after_failure(state, NOW, POLICY, Highest(), retry_after=60)
    assert delay(retry) == backoff_ceiling(6, POLICY)


def test_retry_after_is_capped() -> None:
    retry = next_after_failure(PollState(), NOW, POLICY, Random(0), retry_after=30 * 86400)
    assert delay(retry) == POLICY.retry_after_max
    endless = next_after_failure(PollState(), NOW, POLICY, Random(0), retry_after=math.inf)
    assert delay(endless) == POLICY.retry_after_max


@pytest.mark.parametrize("value", [-30.0, math.nan])
def test_retry_after_negative_or_nan_leaves_the_backoff(value: float) -> None:
    plain = next_after_failure(PollState(), NOW, POLICY, Random(7))
    assert next_after_failure(PollState(), NOW, POLICY, Random(7), retry_after=value) == plain


def test_retry_after_http_date_is_honoured_and_capped() -> None:
    at = parse_retry_after("Mon, 02 Mar 2026 10:30:00 GMT", NOW)
    assert at == 2.5 * 3600
    retry = next_after_failure(PollState(), NOW, POLICY, Random(0), retry_after=at)
    assert retry.next_check == datetime(2026, 3, 2, 10, 30, tzinfo=UTC)
    far = parse_retry_after("Wed, 21 Oct 2026 07:28:00 GMT", NOW)
    assert far is not None and far > 200 * 86400
    capped = next_after_failure(PollState(), NOW, POLICY, Random(0), retry_after=far)
    assert delay(capped) == POLICY.retry_after_max


# --- Retry-After --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", 120.0),
        (" 120 ", 120.0),
        ("0", 0.0),
        ("007", 7.0),
        ("+5", 5.0),
        ("-5", 0.0),
        ("99999999999999999999999999999999999999", 1e12),
        ("9" * 5000, 1e12),
        ("Mon, 02 Mar 2026 08:02:00 GMT", 120.0),
        ("Mon, 02 Mar 2026 08:02:00 -0000", 120.0),
        ("Mon, 02 Mar 2026 09:02:00 +0100", 120.0),
        ("Mon, 02 Mar 2026 07:00:00 GMT", 0.0),  # in the past
        (
            "Wed, 21 Oct 2026 07:28:00 GMT",
            (datetime(2026, 10, 21, 7, 28, tzinfo=UTC) - NOW).total_seconds(),
        ),
    ],
)
def test_parse_retry_after(value: str, expected: float) -> None:
    assert parse_retry_after(value, NOW) == expected


@pytest.mark.parametrize(
    "value",
    [
        "",
        "   ",
        "soon",
        "1.5",
        "1e3",
        "12 s",
        "١٢٠",
        "nan",
        "inf",
        "Mon, 32 Mar 2026 08:00:00 GMT",
        "Mon, 02 Mar 99999 08:00:00 GMT",
        "0x10",
    ],
)
def test_parse_retry_after_garbage(value: str) -> None:
    assert parse_retry_after(value, NOW) is None


def test_parse_retry_after_in_another_zone() -> None:
    madrid = NOW.astimezone(timezone(timedelta(hours=1)))
    assert parse_retry_after("Mon, 02 Mar 2026 08:02:00 GMT", madrid) == 120.0


# --- is_due -------------------------------------------------------------------------------


def test_is_due() -> None:
    assert is_due(PollState(), NOW)  # nothing scheduled
    state = PollState(next_check=NOW)
    assert is_due(state, NOW)
    assert is_due(state, NOW + timedelta(seconds=1))
    assert not is_due(state, NOW - timedelta(microseconds=1))


def test_a_full_cycle_comes_due_when_scheduled() -> None:
    rng = Random(5)
    state = next_on_start(PollState(), NOW, POLICY, rng)
    assert state.next_check is not None
    assert not is_due(state, state.next_check - timedelta(seconds=1))
    now = state.next_check
    assert is_due(state, now)
    state = next_after_success(state, now, POLICY, rng)
    assert not is_due(state, now)
    assert is_due(state, now + timedelta(hours=7, minutes=31))


# --- persistence --------------------------------------------------------------------------


@pytest.fixture
def store(tmp_path: Path) -> PollStore:
    return PollStore.in_state_dir(tmp_path / "state")


def test_store_round_trip(store: PollStore) -> None:
    assert store.path.name == POLL_FILE
    assert store.load() == PollState()  # no file yet
    state = next_after_failure(
        next_after_success(PollState(), NOW, POLICY, Random(1)),
        NOW + timedelta(hours=6),
        POLICY,
        Random(2),
    )
    store.save(state)
    assert store.load() == state
    again = next_after_success(state, NOW + timedelta(hours=7), POLICY, Random(3))
    store.save(again)
    assert store.load() == again
    assert [p.name for p in store.path.parent.iterdir()] == [POLL_FILE]  # no temp files left
    raw = json.loads(store.path.read_text(encoding="utf-8"))
    assert raw["version"] == 1
    assert raw["consecutive_failures"] == 0
    assert raw["next_check"].endswith("+00:00")


def test_store_round_trip_of_the_end_of_time(store: PollStore) -> None:
    huge = PollPolicy(interval=timedelta(days=999_999_000))
    state = next_after_success(PollState(), NOW, huge, Random(0))
    assert state.next_check == datetime.max.replace(tzinfo=UTC)
    store.save(state)
    assert store.load() == state
    assert delay(next_on_start(state, NOW, POLICY, Random(0))) <= POLICY.initial_delay_max


def good_json() -> dict[str, object]:
    return {
        "version": 1,
        "last_attempt": NOW.isoformat(),
        "last_success": None,
        "consecutive_failures": 2,
        "next_check": (NOW + timedelta(minutes=10)).isoformat(),
    }


def test_store_reads_a_file_written_by_hand(store: PollStore) -> None:
    store.path.parent.mkdir(parents=True)
    store.path.write_text(json.dumps(good_json()), encoding="utf-8")
    assert store.load() == PollState(
        last_attempt=NOW, consecutive_failures=2, next_check=NOW + timedelta(minutes=10)
    )


def _with(**changes: object) -> bytes:
    data = good_json()
    data.update(changes)
    return json.dumps(data).encode()


def _without(key: str) -> bytes:
    data = good_json()
    del data[key]
    return json.dumps(data).encode()


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"{",
        b"\x00" * 64,
        b"\xff\xfe garbage",
        b"[]",
        b"null",
        b"[" * 100_000 + b"]" * 100_000,
        _with(version=2),
        _without("version"),
        _without("next_check"),
        _with(consecutive_failures=-1),
        _with(consecutive_failures="3"),
        _with(consecutive_failures=True),
        _with(consecutive_failures=2.5),
        _with(next_check="tomorrow"),
        _with(next_check=12345),
        _with(next_check="2026-03-02T08:00:00"),  # naive
        json.dumps(good_json())[:-20].encode(),  # truncated
    ],
)
def test_store_damaged_file_gives_a_fresh_state(store: PollStore, content: bytes) -> None:
    store.path.parent.mkdir(parents=True)
    store.path.write_bytes(content)
    assert store.load() == PollState()
    # and it does not stop the schedule: the next save replaces it
    state = next_on_start(store.load(), NOW, POLICY, Random(0))
    store.save(state)
    assert store.load() == state


def test_store_unreadable_file_gives_a_fresh_state(store: PollStore) -> None:
    store.path.mkdir(parents=True)  # a folder where the file should be
    assert store.load() == PollState()


def test_store_save_failure_is_a_storage_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x", encoding="utf-8")
    with pytest.raises(StorageError) as raised:
        PollStore(blocker / POLL_FILE).save(PollState())
    assert raised.value.hint


# --- the last check -----------------------------------------------------------------------


def last_check(**changes: object) -> LastCheck:
    fields: dict[str, object] = {
        "checked_at": NOW,
        "channel": "stable",
        "manifest_sha256": SHA,
        "expires": NOW + timedelta(days=1),
        "summary": {"tpv": "2.1.0", "erp": None},
    }
    fields.update(changes)
    return LastCheck(**fields)  # type: ignore[arg-type]


def test_last_check_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "state" / LAST_CHECK_FILE
    assert load_last_check(path) is None
    last = last_check(summary={"tpv": "2.1.0", "erp": None, "caja": "1.0.0-beta.2 ñ"})
    save_last_check(path, last)
    loaded = load_last_check(path)
    assert loaded == last
    assert loaded is not None and loaded.summary == last.summary
    assert [p.name for p in path.parent.iterdir()] == [LAST_CHECK_FILE]


def test_last_check_copies_its_summary() -> None:
    summary: dict[str, str | None] = {"tpv": "2.1.0"}
    last = last_check(summary=summary)
    summary["tpv"] = "6.6.6"
    assert last.summary == {"tpv": "2.1.0"}


def test_usable_offline_until_the_metadata_expires() -> None:
    last = last_check()
    assert usable_offline(last, NOW)
    assert usable_offline(last, last.expires - timedelta(microseconds=1))
    assert not usable_offline(last, last.expires)
    assert not usable_offline(last, last.expires + timedelta(days=1))


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"{}",
        b"not json",
        json.dumps({"version": 1, "checked_at": NOW.isoformat()}).encode(),
    ],
)
def test_last_check_damaged_is_none(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / LAST_CHECK_FILE
    path.write_bytes(content)
    assert load_last_check(path) is None


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("manifest_sha256", "AB" * 32),
        ("manifest_sha256", "ab" * 31),
        ("manifest_sha256", 42),
        ("channel", ""),
        ("summary", {"tpv": 2}),
        ("summary", [("tpv", "2.1.0")]),
        ("expires", None),
        ("checked_at", "yesterday"),
        ("expires", "2026-03-03T08:00:00"),
    ],
)
def test_last_check_damaged_field_is_none(tmp_path: Path, key: str, value: object) -> None:
    path = tmp_path / LAST_CHECK_FILE
    save_last_check(path, last_check())
    data = json.loads(path.read_text(encoding="utf-8"))
    data[key] = value
    path.write_text(json.dumps(data), encoding="utf-8")
    assert load_last_check(path) is None


def test_last_check_refuses_bad_values() -> None:
    with pytest.raises(ValueError):
        last_check(manifest_sha256="not a hash")
    with pytest.raises(ValueError):
        last_check(channel="")
    with pytest.raises(ValueError):
        last_check(summary={"tpv": 2})


# --- time zones ---------------------------------------------------------------------------

NAIVE = datetime(2026, 3, 2, 8, 0)

NAIVE_CALLS: list[Callable[[], object]] = [
    lambda: next_after_success(PollState(), NAIVE, POLICY, Random(0)),
    lambda: next_after_failure(PollState(), NAIVE, POLICY, Random(0)),
    lambda: next_after_failure(PollState(), NAIVE, POLICY, Random(0), retry_after=60),
    lambda: next_on_start(PollState(), NAIVE, POLICY, Random(0)),
    lambda: is_due(PollState(), NAIVE),
    lambda: parse_retry_after("120", NAIVE),
    lambda: parse_retry_after("Mon, 02 Mar 2026 08:02:00 GMT", NAIVE),
    lambda: usable_offline(last_check(), NAIVE),
    lambda: PollState(last_attempt=NAIVE),
    lambda: PollState(last_success=NAIVE),
    lambda: PollState(next_check=NAIVE),
    lambda: last_check(checked_at=NAIVE),
    lambda: last_check(expires=NAIVE),
]


@pytest.mark.parametrize("call", NAIVE_CALLS)
def test_naive_datetimes_are_refused(call: Callable[[], object]) -> None:
    with pytest.raises(ValueError, match="naive"):
        call()


def test_other_zones_are_kept_in_utc(store: PollStore) -> None:
    madrid = timezone(timedelta(hours=1))
    local = NOW.astimezone(madrid)
    state = next_after_success(PollState(), local, POLICY, Random(0))
    assert state.last_success == NOW
    assert state.last_success is not None and state.last_success.tzinfo == UTC
    assert state == next_after_success(PollState(), NOW, POLICY, Random(0))
    last = last_check(checked_at=local, expires=local + timedelta(hours=1))
    assert last.expires.tzinfo == UTC


def test_negative_failures_are_refused() -> None:
    with pytest.raises(ValueError):
        PollState(consecutive_failures=-1)
