"""Benchmark: what a fleet of 100,000 shops costs the static feed, and how fast a rollout
or a halt reaches it.

Two parts, both in one run:

(1) **Measured**, for real: a small feed (2 products x 10 releases by default) is
    built with the publisher API (:class:`updater.publish.repository.FeedRepository`)
    in a temporary folder and served by ``tests.feedserver`` on 127.0.0.1 behind a
    byte-counting TCP relay. One client with a persistent cache (as the service keeps
    it) checks the way the service does (``TrustedFeed(...).manifest(channel)``, a new
    HTTP session per check) while the feed changes: first check, nothing changed, a
    new release published at 10 %, its rollout raised to 100 %, then halted (0 %).
    Every request and response is counted on the wire (request line and headers;
    status line, headers and body). Baseline: a plain ``GET timestamp.json``, the
    least a client can fetch to learn whether anything changed. The check when nothing
    changed is also timed against that baseline. When nginx is installed, the first
    check and a check when nothing changed are repeated against it (with the
    ``Cache-Control`` headers of ``docs/publishing.md``), as a production-like
    cross-check of header and 404 sizes.

(2) **Simulated** (a discrete-event simulation, not real traffic): ``--clients``
    shops (default 100,000), each with a random machine id, switched on and off at
    realistic shop hours, poll with the real schedule of :mod:`updater.feed.schedule`
    (``PollPolicy()``: 6 h ± 25 %, first check within 30 min of a start, exponential
    backoff with full jitter after a failed check) over one day (after a day of
    warm-up, plus one more day to see who was still missing a change). Each check
    costs what (1) measured: the nothing-changed check, or the full download after a
    change. Two scenarios: a new release (2.0.0 of ``tpv``) published at 09:00 at 10 %
    rollout and raised to 100 % at 13:00; or the same release halted (0 %) at 11:00.
    Baseline: the same fleet, same hours and same failures, with
    ``PollPolicy(jitter=0, initial_delay_max=0)`` (a check at power-on, then every
    6 h exactly).

Run ``python -m benchmarks.bench_fleet`` (``--help`` for the options).
"""

from __future__ import annotations

import argparse
import bisect
import heapq
import math
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests
from packaging.version import Version

from benchmarks import format_table, measure, ms, print_machine_once, without_proxies
from benchmarks.bench_verify_manifest import PRODUCTS, write_build
from tests.feedserver import FeedServer
from updater.feed.choose import rollout_bucket
from updater.feed.fetch import DEFAULT_USER_AGENT, FeedFetcher, NetworkLimits, make_session
from updater.feed.schedule import (
    PollPolicy,
    PollState,
    next_after_failure,
    next_after_success,
    next_on_start,
)
from updater.feed.trust import TrustedFeed
from updater.locations import feed_url
from updater.publish.keys import KeyRing, generate_key
from updater.publish.repository import ROLES, FeedRepository, ReleaseSpec

NAME = "fleet"
CHANNEL = "stable"
DEFAULT_RELEASES = 10
#: The release whose rollout is simulated (published after the data set's releases).
PRODUCT = "tpv"
NEW_VERSION = "2.0.0"
FIRST_ROLLOUT = 10

DEFAULT_CLIENTS = 100_000
DEFAULT_DAYS = 2
DEFAULT_SEED = 2026
DEFAULT_FAILURE_RATE = 0.01
DEFAULT_REPEAT = 20

MINUTE = 60
HOUR = 3600
DAY = 86400
#: Times of the scenarios, in seconds after midnight of day 0 (peninsular Spanish time).
PUBLISH_AT = 9 * HOUR
RAISE_AT = 13 * HOUR
HALT_AT = 11 * HOUR
#: t = 0 of the simulation as a time the schedule accepts (it only needs UTC times;
#: the simulated clock is the shops' local time, and the schedule ignores wall-clock
#: hours).
EPOCH = datetime(2026, 11, 25, tzinfo=UTC)


# --- the feed ---------------------------------------------------------------------------


@dataclass
class Feed:
    """A small feed built with the publisher, which the benchmark then changes."""

    repo: FeedRepository
    keyring: KeyRing
    trusted_root: bytes
    build_dir: Path

    def file_size(self, name: str) -> int:
        return (self.repo.metadata_dir / name).stat().st_size

    def current_files(self) -> dict[str, int]:
        """Sizes of the files a client downloads after a change, by role."""
        current = self.repo.current()
        snapshot = current["snapshot"].signed.version
        targets = current["targets"].signed
        path = f"manifests/{CHANNEL}.json"
        manifest = self.repo.target_file(path, targets.targets[path].hashes["sha256"])
        return {
            "root (1.root.json)": self.file_size("1.root.json"),
            "timestamp.json": self.file_size("timestamp.json"),
            f"{snapshot}.snapshot.json": self.file_size(f"{snapshot}.snapshot.json"),
            f"{targets.version}.targets.json": self.file_size(f"{targets.version}.targets.json"),
            f"manifest ({CHANNEL})": manifest.stat().st_size,
        }


def release_spec(product: str, version: str, build_dir: Path, rollout: int | None) -> ReleaseSpec:
    return ReleaseSpec(
        product=product,
        version=version,
        channel=CHANNEL,
        notes_es=(
            f"Versión {version} de {PRODUCTS[product]}.\n\n"
            "- Corrige el cálculo del IVA en tickets con descuentos por línea.\n"
            "- La sincronización de stock con PrestaShop es más rápida.\n"
            "- Traducciones actualizadas."
        ),
        notes_en=(
            f"{PRODUCTS[product]} version {version}.\n\n"
            "- Fixes the VAT of receipts with per-line discounts.\n"
            "- Stock synchronisation with PrestaShop is faster.\n"
            "- Updated translations."
        ),
        rollout_percent=rollout,
        product_name=PRODUCTS[product] if version == "1.0.0" else None,
        build_dir=build_dir,
    )


def build_feed(root: Path, releases: int) -> Feed:
    """``len(PRODUCTS) x releases`` releases (1.0.0, 1.1.0, ...), published once, in ``root``."""
    keys_dir = root / "keys"
    role_keys = {role: [generate_key(keys_dir, role).public_key] for role in ROLES}
    keyring = KeyRing([keys_dir])
    repo = FeedRepository.create(
        root / "workspace",
        role_keys=role_keys,
        thresholds=dict.fromkeys(ROLES, 1),
        keyring=keyring,
    )
    build_dir = root / "build"
    for product in PRODUCTS:
        for index in range(releases):
            version = f"1.{index}.0"
            write_build(build_dir, product, version)
            repo.add_release(release_spec(product, version, build_dir, None))
    repo.publish(keyring)
    trusted_root = (repo.metadata_dir / "1.root.json").read_bytes()
    return Feed(repo, keyring, trusted_root, build_dir)


# --- counting bytes on the wire -----------------------------------------------------------

_SHA256_PREFIX = re.compile(r"/[0-9a-f]{64}\.")


@dataclass(frozen=True)
class Exchange:
    """One HTTP request and its response, as sent on the wire."""

    request_line: str
    request_bytes: int
    status: int
    header_bytes: int
    body_bytes: int

    @property
    def response_bytes(self) -> int:
        return self.header_bytes + self.body_bytes

    @property
    def path(self) -> str:
        """The request's path, with a SHA-256 prefix shortened to ``<sha256>``."""
        return _SHA256_PREFIX.sub("/<sha256>.", self.request_line.split(" ")[1])


@dataclass(frozen=True)
class Check:
    """The HTTP exchanges of one check (or of the baseline's single GET)."""

    name: str
    exchanges: tuple[Exchange, ...]

    @property
    def requests(self) -> int:
        return len(self.exchanges)

    @property
    def sent(self) -> int:
        return sum(e.request_bytes for e in self.exchanges)

    @property
    def received(self) -> int:
        return sum(e.response_bytes for e in self.exchanges)

    @property
    def total(self) -> int:
        return self.sent + self.received


@dataclass
class _Connection:
    up: bytearray = field(default_factory=bytearray)
    down: bytearray = field(default_factory=bytearray)


class CountingRelay:
    """A TCP relay on 127.0.0.1 in front of ``upstream`` that keeps every byte it passes.

    :meth:`take` parses what passed since the last call into :class:`Exchange` objects
    (responses are read by their ``Content-Length``, which the feed server always sends).
    """

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}/"
        self._lock = threading.Lock()
        self._connections: list[_Connection] = []
        self._pumps: list[threading.Thread] = []
        self._sockets: list[socket.socket] = []
        self._acceptor = threading.Thread(target=self._accept, name="CountingRelay", daemon=True)
        self._acceptor.start()

    def _accept(self) -> None:
        while True:
            try:
                client, _address = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.upstream)
            for sock in (client, server):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            connection = _Connection()
            pumps = [
                threading.Thread(target=_pump, args=(client, server, connection.up), daemon=True),
                threading.Thread(target=_pump, args=(server, client, connection.down), daemon=True),
            ]
            with self._lock:
                self._connections.append(connection)
                self._pumps += pumps
                self._sockets += [client, server]
            for pump in pumps:
                pump.start()

    def take(self) -> list[Exchange]:
        """The exchanges of the connections opened since the last call (once closed)."""
        with self._lock:
            pumps, self._pumps = self._pumps, []
            connections, self._connections = self._connections, []
            sockets, self._sockets = self._sockets, []
        for pump in pumps:
            pump.join(10)
        for sock in sockets:
            sock.close()
        exchanges: list[Exchange] = []
        for connection in connections:
            exchanges += parse_exchanges(bytes(connection.up), bytes(connection.down))
        return exchanges

    def close(self) -> None:
        self._listener.close()
        self._acceptor.join(5)


def _pump(source: socket.socket, destination: socket.socket, kept: bytearray) -> None:
    try:
        while data := source.recv(65536):
            kept += data
            destination.sendall(data)
    except OSError:
        pass
    finally:
        with suppress(OSError):
            destination.shutdown(socket.SHUT_WR)


def parse_exchanges(up: bytes, down: bytes) -> list[Exchange]:
    """Split one connection's bytes into requests (GETs, no body) and their responses."""
    requests_seen: list[tuple[str, int]] = []
    position = 0
    while position < len(up):
        end = up.index(b"\r\n\r\n", position) + 4
        line = up[position : up.index(b"\r\n", position)].decode("latin-1")
        requests_seen.append((line, end - position))
        position = end
    exchanges = []
    position = 0
    for line, size in requests_seen:
        end = down.index(b"\r\n\r\n", position) + 4
        head = down[position:end].decode("latin-1").split("\r\n")
        length = 0
        for header in head[1:]:
            name, _sep, value = header.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
        status = int(head[0].split(" ", 2)[1])
        exchanges.append(Exchange(line, size, status, end - position, length))
        position = end + length
    if position != len(down):
        raise RuntimeError(f"{len(down) - position} response bytes not accounted for")
    return exchanges


# --- nginx, for a production-like cross-check ---------------------------------------------

#: A minimal nginx serving the feed with the headers docs/publishing.md recommends.
NGINX_CONFIG = """\
daemon off;
master_process on;
worker_processes 1;
{user}pid {work}/nginx.pid;
lock_file {work}/nginx.lock;
error_log {work}/error.log;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {work}/temp/client_body;
    proxy_temp_path {work}/temp/proxy;
    fastcgi_temp_path {work}/temp/fastcgi;
    uwsgi_temp_path {work}/temp/uwsgi;
    scgi_temp_path {work}/temp/scgi;
    types {{ application/json json; }}
    default_type application/octet-stream;
    gzip off;
    server {{
        listen 127.0.0.1:{port};
        root {root};
        location = /metadata/timestamp.json {{ add_header Cache-Control "no-cache"; }}
        location = /metadata/root.json {{ add_header Cache-Control "no-cache"; }}
        location / {{ add_header Cache-Control "public, max-age=31536000, immutable"; }}
    }}
}}
"""


def nginx_binary() -> str | None:
    return shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")


def nginx_version(binary: str) -> str:
    result = subprocess.run([binary, "-v"], capture_output=True, text=True, check=False)
    return (result.stderr or result.stdout).strip().rpartition(" ")[2] or "nginx"


@contextmanager
def nginx_serving(binary: str, root: Path, work: Path) -> Iterator[str | None]:
    """nginx serving ``root`` on 127.0.0.1 (its URL), or None when it does not start.

    nginx runs in the foreground in its own process group, which is stopped (SIGQUIT,
    then SIGKILL to that group) and reaped on exit.
    """
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    (work / "temp").mkdir(parents=True, exist_ok=True)
    user = ""
    if os.geteuid() == 0:  # workers would run as "nobody", who cannot read our folder
        import grp
        import pwd

        user = f"user {pwd.getpwuid(os.geteuid()).pw_name} {grp.getgrgid(os.getegid()).gr_name};\n"
    config = work / "nginx.conf"
    config.write_text(
        NGINX_CONFIG.format(user=user, work=work, port=port, root=root), encoding="utf-8"
    )
    process = subprocess.Popen(
        [binary, "-p", str(work), "-c", str(config), "-e", str(work / "error.log")],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 10
        listening = False
        while not listening and time.monotonic() < deadline and process.poll() is None:
            try:
                with socket.create_connection(("127.0.0.1", port), 0.5):
                    listening = True
            except OSError:
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}/" if listening else None
    finally:
        if process.poll() is None:
            with suppress(ProcessLookupError):
                process.send_signal(signal.SIGQUIT)
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                with suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()


# --- a client's checks, measured ----------------------------------------------------------


class Client:
    """A client that keeps its metadata cache between checks, as the service does."""

    def __init__(self, base_url: str, trusted_root: bytes, cache_dir: Path) -> None:
        self.base_url = base_url
        self.trusted_root = trusted_root
        self.cache_dir = cache_dir

    def check(self) -> None:
        """One check as ``UpdaterService`` makes it, with a new HTTP session (a check
        comes hours after the last one, long after any keep-alive connection closed)."""
        session = make_session(user_agent=DEFAULT_USER_AGENT)
        try:
            feed = TrustedFeed(
                base_url=self.base_url,
                cache_dir=self.cache_dir,
                trusted_root=self.trusted_root,
                fetcher=FeedFetcher(session, NetworkLimits()),
            )
            feed.manifest(CHANNEL)
        finally:
            session.close()


def plain_get(url: str) -> bytes:
    with requests.Session() as session:
        session.headers["User-Agent"] = DEFAULT_USER_AGENT
        session.headers["Accept-Encoding"] = "identity"
        response = session.get(url, timeout=30)
        response.raise_for_status()
        return response.content


@dataclass
class Measured:
    """What part (1) found."""

    checks: dict[str, Check]
    files: dict[str, int]
    timings: list[tuple[str, float, float]]
    repeat: int
    releases: int
    #: The same checks against nginx, when it is installed: (version, checks by key).
    nginx: tuple[str, dict[str, Check]] | None = None


def measure_checks(feed: Feed, work: Path, repeat: int) -> Measured:
    """Run the client's checks against the feed as it changes, counting every byte."""
    checks: dict[str, Check] = {}
    with FeedServer(feed.repo.feed_dir) as server:
        address = urllib.parse.urlsplit(server.url)
        relay = CountingRelay((address.hostname or "127.0.0.1", address.port or 80))
        try:
            client = Client(feed_url(relay.url), feed.trusted_root, work / "cache")

            def record(key: str, name: str) -> Check:
                client.check()
                check = Check(name, tuple(relay.take()))
                checks[key] = check
                return check

            record("first", "first check (empty cache)")
            unchanged = [record("unchanged", "nothing changed") for _ in range(3)]
            sizes = {(c.requests, c.sent, c.received) for c in unchanged}
            if len(sizes) != 1:
                raise RuntimeError(f"the checks when nothing changed differ: {sizes}")

            write_build(feed.build_dir, PRODUCT, NEW_VERSION)
            feed.repo.add_release(release_spec(PRODUCT, NEW_VERSION, feed.build_dir, FIRST_ROLLOUT))
            feed.repo.publish(feed.keyring)
            files = feed.current_files()
            record("release", f"after {PRODUCT} {NEW_VERSION} is published at {FIRST_ROLLOUT} %")
            record("unchanged-again", "nothing changed (again)")

            feed.repo.set_release(PRODUCT, NEW_VERSION, rollout_percent=100)
            feed.repo.publish(feed.keyring)
            record("raise", "after its rollout is raised to 100 %")

            feed.repo.set_release(PRODUCT, NEW_VERSION, rollout_percent=0)
            feed.repo.publish(feed.keyring)
            record("halt", "after it is halted (0 %)")

            timestamp_url = feed_url(relay.url) + "metadata/timestamp.json"
            plain_get(timestamp_url)
            checks["baseline"] = Check("baseline: GET timestamp.json only", tuple(relay.take()))
        finally:
            relay.close()

        # Time the nothing-changed check against the plain GET, without the relay.
        timed = Client(feed_url(server.url), feed.trusted_root, work / "cache")
        timed.check()
        direct_timestamp = feed_url(server.url) + "metadata/timestamp.json"
        series = measure(
            [
                ("check, nothing changed", timed.check),
                ("baseline: GET timestamp.json", lambda: plain_get(direct_timestamp)),
            ],
            repeat=repeat,
        )
    timings = [(s.name, s.median, s.minimum) for s in series]
    releases = sum(len(p["releases"]) for p in feed.repo.releases_document()["products"].values())
    return Measured(checks, files, timings, repeat, releases, measure_nginx(feed, work))


def measure_nginx(feed: Feed, work: Path) -> tuple[str, dict[str, Check]] | None:
    """A first check (which downloads what a check after a change does) and a check when
    nothing changed, against nginx; None when nginx is missing or does not start."""
    binary = nginx_binary()
    if binary is None:
        return None
    with nginx_serving(binary, feed.repo.feed_dir, work / "nginx") as url:
        if url is None:
            return None
        address = urllib.parse.urlsplit(url)
        relay = CountingRelay((address.hostname or "127.0.0.1", address.port or 80))
        try:
            client = Client(feed_url(relay.url), feed.trusted_root, work / "nginx-cache")
            checks = {}
            for key, name in (
                ("first", "nginx: first check (= a check after a change)"),
                ("unchanged", "nginx: nothing changed"),
            ):
                client.check()
                checks[key] = Check(name, tuple(relay.take()))
            plain_get(feed_url(relay.url) + "metadata/timestamp.json")
            checks["baseline"] = Check("nginx: GET timestamp.json only", tuple(relay.take()))
        finally:
            relay.close()
    return nginx_version(binary), checks


# --- the fleet --------------------------------------------------------------------------


@dataclass(frozen=True)
class Fleet:
    """The simulated shops: ids, kinds and, for each simulated day, when their PC is on.

    ``sessions[m][d]`` is machine ``m``'s (on, off) in seconds on the simulation clock
    for day ``d - 1`` (day -1 is the warm-up); always-on machines have one session
    from before the warm-up to the end of time.
    """

    machine_ids: list[str]
    kinds: list[str]
    canary: list[bool]
    sessions: list[list[tuple[float, float]]]
    buckets: list[int]

    @property
    def size(self) -> int:
        return len(self.machine_ids)


#: (share, kind). Shops open on the hour or half hour; hospitality opens late and
#: closes late; some PCs (servers, back offices) are never switched off.
KINDS = (
    (0.15, "always on"),
    (0.75, "shop"),
    (0.10, "bar/restaurant"),
)
#: Opening times of shops (local hour, weight): most between 08:00 and 10:00.
SHOP_OPENING = ((8.0, 15), (8.5, 10), (9.0, 35), (9.5, 15), (10.0, 25))
#: Closing times of shops (local hour, weight).
SHOP_CLOSING = ((20.0, 40), (20.5, 30), (21.0, 30))
#: The PC is switched on up to this long before opening, and off up to this after closing.
SWITCH_ON_BEFORE = 20 * MINUTE
SWITCH_OFF_AFTER = 15 * MINUTE
#: Share of shops in the Canary Islands, one hour behind the peninsula.
CANARY_SHARE = 0.05
#: Always-on PCs were started this long before the warm-up day, at the most.
ALWAYS_ON_SINCE = 3 * DAY


def _weighted_hour(rng: random.Random, table: Sequence[tuple[float, int]]) -> float:
    hours = [hour for hour, _weight in table]
    weights = [weight for _hour, weight in table]
    return rng.choices(hours, weights)[0]


def make_fleet(clients: int, days: int, seed: int) -> Fleet:
    """``clients`` machines with their PC sessions for days -1 (warm-up) to ``days - 1``."""
    rng = random.Random(seed)
    shares = [share for share, _kind in KINDS]
    names = [kind for _share, kind in KINDS]
    release = Version(NEW_VERSION)
    machine_ids, kinds, canary, sessions, buckets = [], [], [], [], []
    for _ in range(clients):
        machine_id = f"{rng.getrandbits(128):032x}"
        kind = rng.choices(names, shares)[0]
        in_canaries = kind != "always on" and rng.random() < CANARY_SHARE
        shift = HOUR if in_canaries else 0
        days_of: list[tuple[float, float]] = []
        if kind == "always on":
            days_of.append((-DAY - rng.uniform(0, ALWAYS_ON_SINCE), math.inf))
        elif kind == "shop":
            opening = _weighted_hour(rng, SHOP_OPENING) * HOUR
            closing = _weighted_hour(rng, SHOP_CLOSING) * HOUR
            for day in range(-1, days):
                on = day * DAY + opening - rng.uniform(0, SWITCH_ON_BEFORE) + shift
                off = day * DAY + closing + rng.uniform(0, SWITCH_OFF_AFTER) + shift
                days_of.append((on, off))
        else:
            for day in range(-1, days):
                on = day * DAY + rng.uniform(11 * HOUR, 13 * HOUR) + shift
                off = day * DAY + rng.uniform(23.5 * HOUR, 25 * HOUR) + shift
                days_of.append((on, off))
        machine_ids.append(machine_id)
        kinds.append(kind)
        canary.append(in_canaries)
        sessions.append(days_of)
        buckets.append(rollout_bucket(machine_id, PRODUCT, release))
    return Fleet(machine_ids, kinds, canary, sessions, buckets)


@dataclass
class PollLog:
    """Every check the fleet made from t = 0 on, in time order."""

    times: list[float] = field(default_factory=list)
    machines: list[int] = field(default_factory=list)
    succeeded: list[bool] = field(default_factory=list)
    starts: int = 0


def _seconds(moment: datetime | None) -> float:
    if moment is None:
        raise RuntimeError("the schedule left no next check")
    return (moment - EPOCH).total_seconds()


def staged_offer(fleet: Fleet, machine: int, t: float, changes: Sequence[Change]) -> bool:
    """Whether a check at ``t`` finds the release on offer in a staged rollout: the
    rollout then in force is between 1 and 99 % and the machine's bucket is below it
    (what :func:`updater.operations.checking.poll` passes to the schedule)."""
    current = bisect.bisect_right([c.at for c in changes], t) - 1
    if current < 0:
        return False
    rollout = changes[current].rollout
    return 0 < rollout < 100 and fleet.buckets[machine] < rollout


def simulate(
    fleet: Fleet,
    policy: PollPolicy,
    *,
    days: int,
    failure_rate: float,
    seed: int,
    changes: Sequence[Change] = (),
) -> PollLog:
    """Run the fleet's schedule with ``policy`` until the end of day ``days - 1``.

    A PC that is switched on calls :func:`next_on_start` with the state it saved; a check
    due while it is on is made, and fails (the shop's connection is down: nothing reaches
    the server) with probability ``failure_rate``; :func:`next_after_success` or
    :func:`next_after_failure` then schedule the next. A check due after the PC is
    switched off waits for the next :func:`next_on_start`. A successful check that finds
    the release of ``changes`` on offer in a staged rollout tells the schedule so
    (``staged=True``), as the service does.
    """
    rng = random.Random(seed)
    end = days * DAY
    states = [PollState() for _ in range(fleet.size)]
    session_index = [0] * fleet.size
    powered = [False] * fleet.size
    heap: list[tuple[float, int]] = [(s[0][0], m) for m, s in enumerate(fleet.sessions)]
    heapq.heapify(heap)
    log = PollLog()

    def schedule(machine: int) -> None:
        when = _seconds(states[machine].next_check)
        sessions = fleet.sessions[machine]
        index = session_index[machine]
        if when < sessions[index][1]:
            heapq.heappush(heap, (when, machine))
            return
        powered[machine] = False  # switched off before the check is due
        index += 1
        session_index[machine] = index
        if index < len(sessions):
            heapq.heappush(heap, (sessions[index][0], machine))

    while heap:
        t, machine = heapq.heappop(heap)
        if t >= end:
            break
        now = EPOCH + timedelta(seconds=t)
        if not powered[machine]:
            powered[machine] = True
            if t >= 0:
                log.starts += 1
            states[machine] = next_on_start(states[machine], now, policy, rng)
        else:
            ok = rng.random() >= failure_rate
            if t >= 0:
                log.times.append(t)
                log.machines.append(machine)
                log.succeeded.append(ok)
            if ok:
                staged = staged_offer(fleet, machine, t, changes)
                states[machine] = next_after_success(
                    states[machine], now, policy, rng, staged=staged
                )
            else:
                states[machine] = next_after_failure(states[machine], now, policy, rng)
        schedule(machine)
    return log


# --- the scenarios ------------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """A publish: from ``at`` on, checks download the new metadata (``cost``) once."""

    at: float
    name: str
    rollout: int
    cost: Check


@dataclass
class Outcome:
    """A scenario played over a :class:`PollLog`."""

    requests: list[int]
    bytes_served: list[int]
    failed: int
    unchanged: int
    downloads: list[int]
    first_seen: list[list[float]]
    offered_at: list[float]


def play(log: PollLog, fleet: Fleet, changes: Sequence[Change], unchanged: Check) -> Outcome:
    """Charge every check of ``log``: the full download for the first check after a
    change, ``unchanged`` otherwise; note when each machine saw each change and when
    it was first offered the release (its bucket below the rollout then in force)."""
    minutes = math.ceil(max(log.times, default=0) / MINUTE) + 1
    requests_per_minute = [0] * minutes
    bytes_per_minute = [0] * minutes
    change_times = [c.at for c in changes]
    seen = [-1] * fleet.size
    first_seen = [[math.inf] * fleet.size for _ in changes]
    offered_at = [math.inf] * fleet.size
    failed = unchanged_checks = 0
    downloads = [0] * len(changes)
    for t, machine, ok in zip(log.times, log.machines, log.succeeded, strict=True):
        if not ok:
            failed += 1
            continue
        current = bisect.bisect_right(change_times, t) - 1
        if current > seen[machine]:
            cost = changes[current].cost
            seen[machine] = current
            first_seen[current][machine] = t
            downloads[current] += 1
        else:
            cost = unchanged
            unchanged_checks += 1
        minute = int(t // MINUTE)
        requests_per_minute[minute] += cost.requests
        bytes_per_minute[minute] += cost.received
        if (
            current >= 0
            and fleet.buckets[machine] < changes[current].rollout
            and offered_at[machine] == math.inf
        ):
            offered_at[machine] = t
    return Outcome(
        requests_per_minute,
        bytes_per_minute,
        failed,
        unchanged_checks,
        downloads,
        first_seen,
        offered_at,
    )


def reach(times: Sequence[float], since: float, population: int, percent: float) -> float | None:
    """Hours after ``since`` until ``percent`` % of ``population`` had a time in ``times``."""
    needed = math.ceil(population * percent / 100)
    reached = sorted(t for t in times if t != math.inf)
    if needed == 0 or needed > len(reached):
        return None
    return (reached[needed - 1] - since) / HOUR


def clock(seconds: float) -> str:
    """``seconds`` on the simulation clock as ``HH:MM`` (``+1d`` on the next day)."""
    day, rest = divmod(int(seconds), DAY)
    text = f"{rest // HOUR:02d}:{rest % HOUR // MINUTE:02d}"
    return text + (f" +{day}d" if day else "")


def hours(value: float | None) -> str:
    return "not within the simulation" if value is None else f"{value:.1f} h"


# --- the report -------------------------------------------------------------------------


def exchange_table(title: str, check: Check) -> str:
    return format_table(
        [title, "status", "request B", "response B", "of which body"],
        [
            [e.path, str(e.status), str(e.request_bytes), str(e.response_bytes), str(e.body_bytes)]
            for e in check.exchanges
        ],
    )


def report_measured(measured: Measured) -> str:
    checks = measured.checks
    order = ["first", "unchanged", "release", "unchanged-again", "raise", "halt", "baseline"]
    shown = [checks[key] for key in order]
    nginx_lines: list[str] = []
    if measured.nginx is not None:
        version, nginx_checks = measured.nginx
        shown += [nginx_checks[key] for key in ("first", "unchanged", "baseline")]
        nginx_lines = [
            "",
            exchange_table(f"request (nothing changed, {version})", nginx_checks["unchanged"]),
        ]
    rows = [
        [
            check.name,
            str(check.requests),
            f"{check.sent:,}",
            f"{check.received:,}",
            f"{check.total:,}",
        ]
        for check in shown
    ]
    table = format_table(["check", "requests", "sent B", "received B", "total B"], rows)
    detail = exchange_table("request (nothing changed)", checks["unchanged"])
    after = exchange_table("request (after the release)", checks["release"])
    files = ", ".join(f"{name} {size:,}" for name, size in measured.files.items())
    unchanged = checks["unchanged"]
    timing = format_table(
        ["timed (no relay)", "median ms", "min ms"],
        [[name, ms(median), ms(minimum)] for name, median, minimum in measured.timings],
    )
    verdict = (
        "one request" if unchanged.requests == 1 else f"{unchanged.requests} requests"
    ) + f" of {unchanged.total:,} bytes in total ({unchanged.received:,} received)"
    return "\n".join(
        [
            f"Feed: {len(PRODUCTS)} products x {(measured.releases - 1) // len(PRODUCTS)} "
            f"releases on '{CHANNEL}', built now with the publisher; then {PRODUCT} "
            f"{NEW_VERSION} ({measured.releases} releases).",
            f"Files after the release (bytes): {files}",
            "",
            "(1) One client's checks over HTTP on 127.0.0.1 (persistent cache, new "
            "connection per check), counted on the wire; tests.feedserver, and nginx "
            "(headers of docs/publishing.md) as a cross-check when it is installed:",
            table,
            "",
            detail,
            *nginx_lines,
            "",
            after,
            "",
            f"A check when nothing changed: {verdict}.",
            f"Timed, {measured.repeat} repetitions after 1 warm-up:",
            timing,
        ]
    )


@dataclass
class Run:
    """One schedule and its two scenarios (each simulated on its own: a staged offer
    changes when the PCs that hold it check again)."""

    name: str
    policy: PollPolicy
    raised_log: PollLog
    halted_log: PollLog
    raised: Outcome
    halted: Outcome
    seconds: float


def peak(values: Sequence[int], start: int, stop: int) -> tuple[int, int]:
    """(index, value) of the largest of ``values[start:stop]``."""
    window = values[start:stop]
    best = max(range(len(window)), key=window.__getitem__)
    return start + best, window[best]


def per_hour(values: Sequence[int], day: int) -> list[int]:
    base = day * 24 * 60
    return [sum(values[base + h * 60 : base + (h + 1) * 60]) for h in range(24)]


def describe(policy: PollPolicy) -> str:
    """The policy's rules in a few words."""

    def span(delta: timedelta) -> str:
        minutes = delta.total_seconds() / MINUTE
        return f"{minutes / 60:g} h" if minutes >= 60 else f"{minutes:g} min"

    staged = (
        f"{span(policy.staged_interval)} ± {policy.jitter:.0%} while a staged release is on offer"
        if policy.staged_interval < policy.interval
        else "no faster checks while a staged release is on offer"
    )
    return (
        f"interval {span(policy.interval)} ± {policy.jitter:.0%}, first check after a start "
        f"within {span(policy.initial_delay_max)}, backoff with full jitter from "
        f"{span(policy.backoff_base)} to {span(policy.backoff_max)}; {staged}"
    )


def powered_through(sessions: Sequence[tuple[float, float]], start: float, stop: float) -> bool:
    """Whether the PC was on during the whole of [``start``, ``stop``]."""
    return any(on <= start and stop <= off for on, off in sessions)


def report_fleet(runs: Sequence[Run], fleet: Fleet, args: argparse.Namespace) -> str:
    kinds = {kind: fleet.kinds.count(kind) for _share, kind in KINDS}
    lines = [
        f"(2) Simulated fleet: {fleet.size:,} machines ("
        + ", ".join(f"{count:,} {kind}" for kind, count in kinds.items())
        + f"; {sum(fleet.canary):,} of them one hour behind, in the Canaries); "
        f"{args.failure_rate:.1%} of checks fail (the shop's connection); day 0 "
        f"after a warm-up day, plus {args.days - 1} day(s) to follow laggards; seed {args.seed}.",
        *(f"{run.name}: {describe(run.policy)}." for run in runs),
        "Simulated in "
        + ", ".join(f"{run.seconds:.1f} s ({run.name})" for run in runs)
        + " (both scenarios).",
        "",
        f"Scenario A: {NEW_VERSION} published 09:00 at {FIRST_ROLLOUT} %, raised to 100 % at "
        "13:00. Day 0, per hour (requests and MB served; 1 MB = 10^6 bytes):",
    ]
    hourly = [
        (per_hour(run.raised.requests, 0), per_hour(run.raised.bytes_served, 0)) for run in runs
    ]
    rows = []
    for h in range(24):
        row = [f"{h:02d}:00"]
        for requests_h, bytes_h in hourly:
            row += [f"{requests_h[h]:,}", f"{bytes_h[h] / 1e6:,.1f}"]
        rows.append(row)
    rows.append(
        ["day 0"]
        + [
            cell
            for requests_h, bytes_h in hourly
            for cell in (f"{sum(requests_h):,}", f"{sum(bytes_h) / 1e6:,.1f}")
        ]
    )
    lines.append(
        format_table(
            ["hour"] + [f"{run.name} {unit}" for run in runs for unit in ("req", "MB")], rows
        )
    )
    lines.append("")
    peaks = []
    for run in runs:
        for label, outcome in (("A", run.raised), ("B", run.halted)):
            hourly_requests = per_hour(outcome.requests, 0)
            hourly_bytes = per_hour(outcome.bytes_served, 0)
            hour_r, top_hour_requests = peak(hourly_requests, 0, 24)
            hour_b, top_hour_bytes = peak(hourly_bytes, 0, 24)
            minute_r, top_minute_requests = peak(outcome.requests, 0, DAY // MINUTE)
            minute_b, top_minute_bytes = peak(outcome.bytes_served, 0, DAY // MINUTE)
            peaks.append(
                [
                    f"{run.name}, scenario {label}",
                    f"{hour_r:02d}:00  {top_hour_requests:,}",
                    f"{hour_b:02d}:00  {top_hour_bytes / 1e6:,.1f} MB",
                    f"{clock(minute_r * MINUTE)}  {top_minute_requests:,}"
                    f" ({top_minute_requests / MINUTE:.0f}/s)",
                    f"{clock(minute_b * MINUTE)}  {top_minute_bytes / 1e6:,.1f} MB"
                    f" ({top_minute_bytes * 8 / MINUTE / 1e6:.1f} Mbit/s)",
                ]
            )
    lines.append("Peaks of day 0 (the hour or minute starting at):")
    lines.append(
        format_table(
            [
                "schedule",
                "peak hour, requests",
                "peak hour, bytes",
                "peak minute, requests",
                "peak minute, bytes",
            ],
            peaks,
        )
    )
    lines.append("")
    lines.append(
        "Hours after each publish until 50/90/99 % of the whole fleet had checked since "
        "(scenario A for the 09:00 release, seen at 10 % or at 100 %, and the 13:00 raise; "
        "scenario B for the 11:00 halt):"
    )
    reach_rows = []
    for run in runs:
        release_seen = [min(a, b) for a, b in zip(*run.raised.first_seen, strict=True)]
        raise_seen = run.raised.first_seen[1]
        halt_seen = run.halted.first_seen[1]
        for what, times, since in (
            (f"{NEW_VERSION} at {FIRST_ROLLOUT} % (09:00)", release_seen, PUBLISH_AT),
            ("rollout 100 % (13:00)", raise_seen, RAISE_AT),
            ("halt (11:00)", halt_seen, HALT_AT),
        ):
            reach_rows.append(
                [f"{run.name}: {what}"]
                + [hours(reach(times, since, fleet.size, p)) for p in (50, 90, 99)]
            )
    lines.append(format_table(["change", "50 %", "90 %", "99 %"], reach_rows))
    lines.append("")
    in_bucket = sum(1 for b in fleet.buckets if b < FIRST_ROLLOUT)
    lines.append(
        f"Scenario B (halt at 11:00): machines offered {NEW_VERSION} before the halt reached "
        f"them ({in_bucket:,} machines have a bucket below {FIRST_ROLLOUT}); the time from "
        "each one's offer to its first check after the halt, and when the halt had reached "
        "90 %, 99 % and all of them (hours after 11:00); then, of those switched on from "
        "11:00 to 12:00, the share the halt reached by 12:00:"
    )
    halt_rows = []
    for run in runs:
        offered = [
            (m, at, run.halted.first_seen[1][m])
            for m, at in enumerate(run.halted.offered_at)
            if at != math.inf
        ]
        exposure = sorted(seen - at for _m, at, seen in offered)
        halted_later = [seen for _m, _at, seen in offered]
        powered = [
            seen
            for m, _at, seen in offered
            if powered_through(fleet.sessions[m], HALT_AT, HALT_AT + HOUR)
        ]
        within_hour = sum(1 for seen in powered if seen <= HALT_AT + HOUR)
        halt_rows.append(
            [
                run.name,
                f"{len(offered):,}",
                f"{len(offered) / fleet.size:.2%}",
                hours(exposure[len(exposure) // 2] / HOUR if exposure else None),
                hours(reach(halted_later, HALT_AT, len(offered), 90)),
                hours(reach(halted_later, HALT_AT, len(offered), 99)),
                hours(reach(halted_later, HALT_AT, len(offered), 100)),
                f"{within_hour:,} of {len(powered):,} = "
                f"{within_hour / len(powered) if powered else 0:.1%}",
            ]
        )
    lines.append(
        format_table(
            [
                "schedule",
                "offered",
                "of fleet",
                "median offer→halt",
                "halt reached 90 %",
                "99 %",
                "all",
                "switched on 11–12: reached by 12:00",
            ],
            halt_rows,
        )
    )
    lines.append("")
    for run in runs:
        outcome = run.raised
        lines.append(
            f"{run.name}: {len(run.raised_log.times):,} checks in {args.days} day(s) from "
            f"{run.raised_log.starts:,} PC starts: {outcome.failed:,} failed, "
            f"{outcome.unchanged:,} found nothing changed, full downloads "
            f"{outcome.downloads[0]:,} after 09:00 and {outcome.downloads[1]:,} after 13:00 "
            f"(scenario A); {sum(outcome.requests):,} requests, "
            f"{sum(outcome.bytes_served) / 1e9:,.2f} GB served."
        )
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.bench_fleet",
        description="Measure a check's bytes over HTTP and simulate a fleet's polling.",
    )
    parser.add_argument("--clients", type=int, default=DEFAULT_CLIENTS, help="simulated machines")
    parser.add_argument(
        "--days",
        type=int,
        default=DEFAULT_DAYS,
        help=f"simulated days after the warm-up day (default {DEFAULT_DAYS}; at least 1)",
    )
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="random seed")
    parser.add_argument(
        "--releases",
        type=int,
        default=DEFAULT_RELEASES,
        help=f"releases per product in the feed (default {DEFAULT_RELEASES})",
    )
    parser.add_argument(
        "--failure-rate",
        type=float,
        default=DEFAULT_FAILURE_RATE,
        help=f"share of checks that fail (default {DEFAULT_FAILURE_RATE})",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=DEFAULT_REPEAT,
        help=f"timed repetitions of the nothing-changed check (default {DEFAULT_REPEAT})",
    )
    args = parser.parse_args(argv)
    if min(args.clients, args.days, args.repeat, args.releases) < 1:
        parser.error("--clients, --days, --releases and --repeat must be at least 1")
    if not 0 <= args.failure_rate < 1:
        parser.error("--failure-rate must be at least 0 and below 1")
    return args


@contextmanager
def _workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="bench-fleet-") as name:
        yield Path(name)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    without_proxies()
    print_machine_once()
    print(f"== {NAME} ==", flush=True)
    started = time.perf_counter()
    with _workdir() as work:
        feed = build_feed(work / "feed", args.releases)
        measured = measure_checks(feed, work, args.repeat)
    print(report_measured(measured))
    print(flush=True)

    checks = measured.checks
    fleet = make_fleet(args.clients, args.days, args.seed)
    raised = [
        Change(PUBLISH_AT, "release", FIRST_ROLLOUT, checks["release"]),
        Change(RAISE_AT, "raise", 100, checks["raise"]),
    ]
    halted = [
        Change(PUBLISH_AT, "release", FIRST_ROLLOUT, checks["release"]),
        Change(HALT_AT, "halt", 0, checks["halt"]),
    ]
    runs = []
    usual = PollPolicy().interval
    for name, policy in (
        ("policy", PollPolicy()),
        ("without staged checks", PollPolicy(staged_interval=usual)),
        (
            "baseline",
            PollPolicy(jitter=0.0, initial_delay_max=timedelta(0), staged_interval=usual),
        ),
    ):
        sim_started = time.perf_counter()
        logs = [
            simulate(
                fleet,
                policy,
                days=args.days,
                failure_rate=args.failure_rate,
                seed=args.seed + 1,
                changes=changes,
            )
            for changes in (raised, halted)
        ]
        seconds = time.perf_counter() - sim_started
        runs.append(
            Run(
                name,
                policy,
                logs[0],
                logs[1],
                play(logs[0], fleet, raised, checks["unchanged"]),
                play(logs[1], fleet, halted, checks["unchanged"]),
                seconds,
            )
        )
    print(report_fleet(runs, fleet, args))
    print(f"Whole benchmark: {time.perf_counter() - started:.0f} s")
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
