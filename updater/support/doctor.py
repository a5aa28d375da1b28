"""The doctor: what on this PC stands between it and a working update.

:func:`run_doctor` runs a fixed list of checks and returns one :class:`Check` for each
(in the order of :data:`CHECK_IDS`): the configuration, the feed (reachable and
trusted), proxy and TLS, the clock, free disk space, write access, that standard users
cannot change what the updater works on and runs (links, folder and program
permissions), running programs,
a pending restart and the state folder's lock. A failing check never raises: it is a
``Check`` with ``ok=False``, a one-line message and what to do about it. When the
configuration cannot be loaded, only the checks that need none of it run.

The doctor changes nothing the updater relies on: the feed is verified in a temporary
copy of the trusted metadata (python-tuf writes what it fetched into its cache, and
the real cache is what rollback protection compares against), the write test creates
and deletes a probe file, and the lock is only taken for an instant when nobody holds it.

Network checks use the HTTP session the updater itself uses
(:func:`updater.feed.fetch.make_session`), so the proxy and certificates they see are the
updater's: proxies come from the process environment (``HTTPS_PROXY``, ``NO_PROXY``,
and on Windows the system proxy settings), certificates from the system store or the
configuration's ``ca_bundle``.
"""

from __future__ import annotations

import contextlib
import email.utils
import os
import re
import shutil
import tempfile
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests

from updater.errors import BusyError, ConfigError, UpdaterError
from updater.feed.fetch import FeedFetcher, NetworkLimits, describe_tls_error, make_session
from updater.feed.trust import METADATA_DIR, TrustedFeed
from updater.fsutil import write_probe
from updater.i18n import _
from updater.install.health import command_programs, product_commands, unsafe_program
from updater.machine.config import MachineConfig, load_config, resolve_config_path
from updater.machine.state import StateDir
from updater.platform import current as current_platform

__all__ = [
    "CHECK_IDS",
    "LOW_DISK_BYTES",
    "MAX_CLOCK_SKEW",
    "Check",
    "format_check",
    "redact_text",
    "run_doctor",
]

#: Every check, in the order :func:`run_doctor` returns them. The ids are stable (JSON
#: output, support scripts); the messages are translated and may change.
CHECK_IDS = (
    "config",
    "feed",
    "tls_proxy",
    "clock",
    "disk",
    "write_access",
    "local_safety",
    "app_running",
    "pending_reboot",
    "state_lock",
)
#: More difference than this between the PC's clock and the feed server's is a failure:
#: the signed update information has expiry dates, judged by the PC's clock.
MAX_CLOCK_SKEW = timedelta(minutes=5)
#: Less free space than this in an install parent or the state folder is a failure.
LOW_DISK_BYTES = 500 * 2**20

# The doctor should answer within a minute even when the network misbehaves.
_LIMITS = NetworkLimits(connect_timeout=10.0, read_timeout=20.0, metadata_deadline_seconds=60.0)
_HTTP_SCHEMES = ("http", "https")
# The password of a URL's user information: "scheme://user:PASSWORD@host".
_URL_PASSWORD = re.compile(r"(\b[A-Za-z][A-Za-z0-9+.-]*://[^\s/@:'\"]*:)[^\s/@'\"]+(?=@)")
_MASK = "***"


@dataclass(frozen=True)
class Check:
    """The result of one check.

    Attributes:
        id: Which check (one of :data:`CHECK_IDS`).
        ok: Whether nothing was found that stands in the way of an update.
        message: What was found, translated, on one line.
        fix: What to do about it, translated; ``None`` when there is nothing to do.
    """

    id: str
    ok: bool
    message: str
    fix: str | None = None


def redact_text(text: str) -> str:
    """``text`` with the password of every URL in it replaced by ``***``."""
    return _URL_PASSWORD.sub(r"\1" + _MASK, text)


def format_check(check: Check) -> str:
    """One line for a person: status, id, message and, when there is one, the fix."""
    status = _("OK") if check.ok else _("FAIL")
    line = _("[{status}] {check}: {message}").format(
        status=status, check=check.id, message=check.message
    )
    if check.fix:
        line += " " + _("What to do: {fix}").format(fix=check.fix)
    return line


def run_doctor(config_path: Path | None, *, environ: Mapping[str, str] = os.environ) -> list[Check]:
    """Run every check and return their results, in the order of :data:`CHECK_IDS`.

    Args:
        config_path: The configuration file (``--config``); ``None`` looks for it as
            the updater does (``$INNOVA_UPDATER_CONFIG`` in ``environ``, else the
            default place).
        environ: The environment the configuration file is looked up in.

    Never raises because of what it finds: each problem is a :class:`Check` with
    ``ok=False``. When the configuration cannot be loaded, the result is the failed
    ``config`` check and the checks that need no configuration (``pending_reboot``).
    """
    config, config_check = _check_config(config_path, environ)
    checks = [config_check]
    if config is None:
        checks.append(_guarded("pending_reboot", _check_pending_reboot))
        return checks
    session: requests.Session | None = None
    try:
        ca = str(config.feed.ca_bundle) if config.feed.ca_bundle else None
        session = make_session(ca_bundle=ca, user_agent=_LIMITS.user_agent)
    except Exception as exc:  # a broken TLS setup must not stop the other checks
        failed = _unexpected("feed", exc)
        checks += [failed, replace(failed, id="tls_proxy"), replace(failed, id="clock")]
    try:
        if session is not None:
            live = session
            probes = _probe_feed(live, config)
            checks += [
                _guarded("feed", lambda: _check_feed(live, config)),
                _guarded("tls_proxy", lambda: _check_tls_proxy(config, probes)),
                _guarded("clock", lambda: _check_clock(config, probes)),
            ]
        folders = _watched_folders(config)
        checks += [
            _guarded("disk", lambda: _check_disk(folders)),
            _guarded("write_access", lambda: _check_write_access(folders)),
            _guarded("local_safety", lambda: _check_local_safety(config)),
            _guarded("app_running", lambda: _check_app_running(config)),
            _guarded("pending_reboot", _check_pending_reboot),
            _guarded("state_lock", lambda: _check_state_lock(config)),
        ]
    finally:
        if session is not None:
            session.close()
    return checks


# --- plumbing -------------------------------------------------------------------------------


def _one_line(text: str) -> str:
    return " ".join(redact_text(text).split())


def _sentence(text: str) -> str:
    """``text`` ending like a sentence, so that what follows it on the line reads well."""
    return text if not text or text.endswith((".", "!", "?", ")")) else text + "."


def _guarded(check_id: str, run: Callable[[], Check]) -> Check:
    """``run()``, with any exception turned into a failed check; messages cleaned up."""
    try:
        check = run()
    except Exception as exc:
        check = _unexpected(check_id, exc)
    return replace(
        check,
        message=_sentence(_one_line(check.message)),
        fix=_sentence(_one_line(check.fix)) if check.fix else None,
    )


def _unexpected(check_id: str, exc: BaseException) -> Check:
    error = exc.message if isinstance(exc, UpdaterError) else (str(exc) or type(exc).__name__)
    return Check(
        check_id,
        False,
        _sentence(_one_line(_("This check could not be completed: {error}").format(error=error))),
        _("Send the diagnostic report to InnovaCommerce support."),
    )


def _error_text(exc: BaseException) -> str:
    if isinstance(exc, UpdaterError):
        return exc.message
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


# --- configuration --------------------------------------------------------------------------


def _check_config(
    config_path: Path | None, environ: Mapping[str, str]
) -> tuple[MachineConfig | None, Check]:
    fix = _("Correct the configuration file (every key is described in the documentation).")
    try:
        path = (
            config_path.absolute()
            if config_path is not None
            else resolve_config_path(None, environ)
        )
        config = load_config(path)
    except ConfigError as exc:
        check = Check("config", False, exc.message, exc.hint or fix)
        return None, _guarded("config", lambda: check)
    except Exception as exc:
        return None, _unexpected("config", exc)
    names = ", ".join(product.name for product in config.products.values())
    message = _(
        "The configuration {file} is valid: feed {url}, channel {channel}, products: {products}."
    ).format(file=path, url=config.feed.url, channel=config.feed.channel, products=names)
    return config, _guarded("config", lambda: Check("config", True, message))


# --- the feed -------------------------------------------------------------------------------


def _verify_feed(
    url: str, config: MachineConfig, session: requests.Session, root: bytes
) -> datetime | None:
    """Refresh ``url``'s metadata and read the channel's manifest, in a temporary copy
    of the trusted metadata; returns until when the verified metadata is valid."""
    trusted = StateDir(config.state_dir).feed_cache / METADATA_DIR
    with tempfile.TemporaryDirectory(prefix="innova-doctor-", ignore_cleanup_errors=True) as temp:
        cache = Path(temp)
        if trusted.is_dir():
            shutil.copytree(trusted, cache / METADATA_DIR, symlinks=True)
        feed = TrustedFeed(
            base_url=url,
            cache_dir=cache,
            trusted_root=root,
            fetcher=FeedFetcher(session, _LIMITS),
        )
        feed.refresh()
        feed.manifest(config.feed.channel)
        return feed.trusted_until()


def _check_feed(session: requests.Session, config: MachineConfig) -> Check:
    try:
        root = config.feed.root.read_bytes()
    except OSError as exc:
        return Check(
            "feed",
            False,
            _("Cannot read the root of trust {path}: {error}").format(
                path=config.feed.root, error=_error_text(exc)
            ),
            _("Reinstall the updater or ask support for the right root.json."),
        )
    working: list[tuple[str, datetime | None]] = []
    failures: list[tuple[str, BaseException]] = []
    for url in config.feed.urls:
        try:
            working.append((url, _verify_feed(url, config, session, root)))
        except (UpdaterError, OSError) as exc:
            failures.append((url, exc))
    if not failures:
        url, until = working[0]
        if until is None:
            message = _("The feed {url} answers and its update information is genuine.")
        else:
            message = _(
                "The feed {url} answers and its update information is genuine and valid "
                "until {until}."
            )
        if len(working) > 1:
            message += " " + _("Its mirrors answer too.")
        return Check(
            "feed",
            True,
            message.format(url=url, until=until.strftime("%Y-%m-%d %H:%M UTC") if until else ""),
        )
    parts = [
        _("The feed {url} cannot be used: {error}").format(url=url, error=_error_text(exc))
        for url, exc in failures
    ]
    if working:
        parts.append(_("Updates still work through {url}.").format(url=working[0][0]))
    first = failures[0][1]
    hint = first.hint if isinstance(first, UpdaterError) else None
    return Check(
        "feed",
        False,
        " ".join(parts),
        hint or _("Check the internet connection and the feed address in the configuration."),
    )


# --- proxy, TLS and clock -------------------------------------------------------------------


@dataclass(frozen=True)
class _Probe:
    """One request for the feed's ``timestamp.json``, for its proxy, TLS and ``Date``."""

    url: str
    proxy: str | None
    error: BaseException | None = None
    server_time: datetime | None = None
    local_time: datetime | None = None


def _proxy_for(url: str) -> str | None:
    """The proxy the updater's session uses for ``url``, as requests chooses it: the
    environment's ``*_PROXY`` and ``NO_PROXY``, else (on Windows) the system settings."""
    try:
        proxies = requests.utils.get_environ_proxies(url)
        return requests.utils.select_proxy(url, proxies)
    except Exception:  # only used to describe the connection
        return None


def _probe(session: requests.Session, base_url: str) -> _Probe:
    url = base_url + METADATA_DIR + "/timestamp.json"
    proxy = _proxy_for(url)
    before = datetime.now(UTC)
    try:
        response = session.get(
            url,
            stream=True,
            timeout=(_LIMITS.connect_timeout, _LIMITS.read_timeout),
            allow_redirects=False,
        )
    except Exception as exc:  # requests' errors, and anything else: never stop the doctor
        return _Probe(url, proxy, error=exc)
    after = datetime.now(UTC)
    with response:
        header = response.headers.get("Date")
    server_time: datetime | None = None
    if header:
        with contextlib.suppress(TypeError, ValueError, IndexError):
            server_time = email.utils.parsedate_to_datetime(header)
            if server_time.tzinfo is None:
                server_time = server_time.replace(tzinfo=UTC)
    return _Probe(url, proxy, server_time=server_time, local_time=before + (after - before) / 2)


def _probe_feed(session: requests.Session, config: MachineConfig) -> dict[str, _Probe]:
    """A probe of every web address of the feed (folders have nothing to probe)."""
    probes: dict[str, _Probe] = {}
    for url in config.feed.urls:
        if urllib.parse.urlsplit(url).scheme.lower() in _HTTP_SCHEMES:
            probes[url] = _probe(session, url)
    return probes


def _certificates(config: MachineConfig) -> str:
    if config.feed.ca_bundle is not None:
        text = _("certificates are checked against {path} (feed.ca_bundle)").format(
            path=config.feed.ca_bundle
        )
    else:
        text = _("certificates are checked against the system's certificate store")
        for variable in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
            value = os.environ.get(variable)
            if value:
                text += " " + _("and {path} ({variable})").format(path=value, variable=variable)
    return text


def _check_tls_proxy(config: MachineConfig, probes: Mapping[str, _Probe]) -> Check:
    described: list[str] = []
    failures: list[str] = []
    fixes: list[str] = []
    for url in config.feed.urls:
        probe = probes.get(url)
        if probe is None:
            described.append(
                _("{url} is a folder: no proxy or secure connection is involved.").format(url=url)
            )
            continue
        if probe.proxy:
            how = _("{url} is reached through the proxy {proxy}").format(url=url, proxy=probe.proxy)
        else:
            how = _("{url} is reached directly, without a proxy").format(url=url)
        if urllib.parse.urlsplit(url).scheme.lower() == "https":
            how = _("{connection}; {certificates}.").format(
                connection=how, certificates=_certificates(config)
            )
        else:
            how = _("{connection}; the connection is not encrypted (http).").format(connection=how)
        described.append(how)
        if probe.error is None:
            continue
        tls_problem = describe_tls_error(probe.error)
        if tls_problem is not None:
            failures.append(
                _("A secure connection to {url} could not be set up: {problem}").format(
                    url=url, problem=tls_problem
                )
            )
            fixes.append(
                _(
                    "If this network inspects HTTPS traffic, IT must install its certificate "
                    "in Windows or set feed.ca_bundle in the configuration; check the PC's "
                    "date and time too."
                )
            )
        elif isinstance(probe.error, requests.exceptions.ProxyError):
            failures.append(
                _("The proxy {proxy} does not let the updater reach {url} ({error}).").format(
                    proxy=probe.proxy or "?", url=url, error=_reason(probe.error)
                )
            )
            fixes.append(
                _(
                    "Check the proxy settings (HTTPS_PROXY, HTTP_PROXY and NO_PROXY, or the "
                    "Windows proxy settings), or ask IT to let the updater through."
                )
            )
    if failures:
        return Check(
            "tls_proxy", False, " ".join([*failures, *described]), " ".join(dict.fromkeys(fixes))
        )
    return Check("tls_proxy", True, " ".join(described))


def _reason(error: BaseException) -> str:
    """The innermost sentence of a requests error (urllib3 wraps it several times)."""
    text = str(error)
    found = re.search(r"\[Errno -?\d+\] ([^'\")\]]+)", text)
    return found.group(1).strip() if found else text


def _check_clock(config: MachineConfig, probes: Mapping[str, _Probe]) -> Check:
    probe = next((p for p in probes.values() if p.server_time and p.local_time), None)
    if probe is None or probe.server_time is None or probe.local_time is None:
        if not probes:
            message = _(
                "Not checked: the feed is a folder, so there is no server clock to compare with."
            )
        else:
            message = _("Not checked: the feed server did not answer (see the feed check).")
        return Check("clock", True, message)
    difference = probe.local_time - probe.server_time
    seconds = round(abs(difference.total_seconds()))
    if abs(difference) <= MAX_CLOCK_SKEW:
        return Check(
            "clock",
            True,
            _("This PC's clock agrees with the feed server's (difference: {seconds} s).").format(
                seconds=seconds
            ),
        )
    if difference > timedelta(0):
        message = _("This PC's clock is {minutes} minutes ahead of the feed server's clock.")
    else:
        message = _("This PC's clock is {minutes} minutes behind the feed server's clock.")
    details = _("Here it is {local}; on the server it is {server} (UTC).").format(
        local=probe.local_time.strftime("%Y-%m-%d %H:%M:%S"),
        server=probe.server_time.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"),
    )
    return Check(
        "clock",
        False,
        message.format(minutes=round(seconds / 60)) + " " + details,
        _(
            "Set the PC's clock to the right date and time (and turn on automatic time "
            "synchronisation): the update information has expiry dates, judged by this clock."
        ),
    )


# --- folders --------------------------------------------------------------------------------


def _watched_folders(config: MachineConfig) -> list[Path]:
    """The folders an update writes to: each install folder's parent and the state folder."""
    folders: dict[str, Path] = {}
    for folder in [p.install_dir.parent for p in config.products.values()] + [config.state_dir]:
        folders.setdefault(os.path.normcase(folder), folder)
    return list(folders.values())


def _nearest_existing(path: Path) -> Path:
    """``path``, or its nearest ancestor that exists (where the updater would create it)."""
    current = path
    while not os.path.lexists(current) and current.parent != current:
        current = current.parent
    return current


def _not_a_folder(path: Path) -> tuple[str, str]:
    return (
        _("{path} is a file, but the updater needs a folder there.").format(path=path),
        _("Move or delete the file {path}.").format(path=path),
    )


def _existing_folders(
    folders: list[Path], problems: list[str], fixes: list[str]
) -> list[tuple[Path, Path]]:
    """Each folder with the nearest folder of its path that exists (what can be
    measured now); a file in the way is added to ``problems`` and ``fixes`` instead."""
    usable = []
    for folder in folders:
        existing = _nearest_existing(folder)
        if existing.is_dir():
            usable.append((folder, existing))
        else:
            problem, fix = _not_a_folder(existing)
            problems.append(problem)
            fixes.append(fix)
    return usable


def _check_disk(folders: list[Path]) -> Check:
    found: list[str] = []
    problems: list[str] = []
    fixes: list[str] = []
    low: list[str] = []
    for folder, existing in _existing_folders(folders, problems, fixes):
        free = shutil.disk_usage(existing).free
        found.append(_("{folder}: {free} MB free").format(folder=folder, free=free // 2**20))
        if free < LOW_DISK_BYTES:
            low.append(str(folder))
    if low:
        problems.insert(
            0,
            _("Little disk space is left ({found}).").format(found="; ".join(found)),
        )
        fixes.insert(
            0,
            _(
                "Free some disk space in {folders} (at least {needed} MB): an update needs "
                "room for the download, the new version and a copy of the current one."
            ).format(folders=", ".join(low), needed=LOW_DISK_BYTES // 2**20),
        )
    if problems:
        return Check("disk", False, " ".join(problems), " ".join(fixes))
    return Check("disk", True, _("Enough disk space: {found}.").format(found="; ".join(found)))


def _check_write_access(folders: list[Path]) -> Check:
    problems: list[str] = []
    fixes: list[str] = []
    denied: list[str] = []
    for _folder, existing in _existing_folders(folders, problems, fixes):
        exc = write_probe(existing)
        if exc is not None:
            problems.append(
                _("The updater cannot write to {folder}: {error}").format(
                    folder=existing, error=_error_text(exc)
                )
            )
            denied.append(str(existing))
    if denied:
        fixes.insert(
            0,
            _(
                "Run the updater as administrator, or give this account permission to "
                "write to {folders}."
            ).format(folders=", ".join(denied)),
        )
    if problems:
        return Check("write_access", False, " ".join(problems), " ".join(fixes))
    return Check(
        "write_access",
        True,
        _("The updater can write to {folders}.").format(
            folders=", ".join(str(folder) for folder in folders)
        ),
    )


def _check_local_safety(config: MachineConfig) -> Check:
    """What the updater, as SYSTEM, works on and runs must be beyond standard users'
    reach: program folders and data paths nobody else can swap for a link, and
    commands (hooks, health checks, the PrestaShop command) only administrators can
    change (docs/security.md, "Local attacker")."""
    platform = current_platform
    problems: list[str] = []
    for product in config.products.values():
        for path in (product.install_dir, *product.data_paths):
            reason = platform.replaceable_by_others(path)
            if reason is not None:
                problems.append(f"{path}: {reason}")
        for name, argv in product_commands(product).items():
            for program in command_programs(argv):
                reason = unsafe_program(platform, program)
                if reason is not None:
                    problems.append(
                        _("{product}'s {command} command: {reason}").format(
                            product=product.name, command=name, reason=reason
                        )
                    )
    if problems:
        return Check(
            "local_safety",
            False,
            " ".join(problems),
            _(
                "Let only administrators change these folders and programs; until then "
                "the updater refuses to work on them as SYSTEM."
            ),
        )
    return Check(
        "local_safety",
        True,
        _("Only administrators can change the folders and programs the updater works on."),
    )


# --- programs, restart, lock ----------------------------------------------------------------


def _check_app_running(config: MachineConfig) -> Check:
    running: list[str] = []
    names: list[str] = []
    for product in config.products.values():
        processes = current_platform.find_processes(product.install_dir)
        if processes:
            names.append(product.name)
            running.append(
                _("{product} is running (process {pids}).").format(
                    product=product.name, pids=", ".join(str(p.pid) for p in processes)
                )
            )
    if running:
        return Check(
            "app_running",
            False,
            " ".join(running),
            _(
                "Close {products} before updating, or update with --if-running wait or "
                "--if-running close."
            ).format(products=", ".join(names)),
        )
    return Check("app_running", True, _("None of the configured programs is running."))


def _check_pending_reboot() -> Check:
    pending = current_platform.pending_reboot()  # the registry's marks on Windows
    if pending is None:
        return Check("pending_reboot", True, _("Not checked on this system."))
    if pending:
        return Check(
            "pending_reboot",
            False,
            _("The computer is waiting to be restarted to finish installing updates."),
            _(
                "Restart the computer before updating: until then, files that an installer "
                "replaced may still be in use."
            ),
        )
    return Check("pending_reboot", True, _("No restart is pending."))


def _check_state_lock(config: MachineConfig) -> Check:
    state = StateDir(config.state_dir)
    if not state.root.is_dir():
        return Check(
            "state_lock",
            True,
            _("No update has run on this PC yet ({path} does not exist).").format(path=state.root),
        )
    fix = _("Wait for the other update to finish. If no update is running, restart the computer.")
    owner = state.lock_owner()
    if owner is not None:  # do not even touch a lock that a live process says it holds
        return Check(
            "state_lock",
            False,
            _("Another update is in progress: {name} (process {pid}).").format(
                name=owner.name, pid=owner.pid
            ),
            fix,
        )
    try:
        with state.lock():
            pass
    except BusyError as exc:
        return Check("state_lock", False, exc.message, fix)
    except UpdaterError as exc:  # the lock file cannot be opened
        return Check("state_lock", False, exc.message, exc.hint)
    return Check("state_lock", True, _("No other update is in progress."))
