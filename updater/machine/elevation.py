"""Handing an update to the elevated updater, for a process that may not apply it.

On Windows the tray runs as the shop owner, who is not an administrator, and the
programs live in Program Files. The tray never elevates and never shows a UAC prompt:
it starts the on-demand scheduled task that runs ``innova-update apply-requests`` as
SYSTEM (see :mod:`updater.machine.setup`), connects to the *channel* that process serves (a
named pipe; a Unix socket on the POSIX twin, see :mod:`updater.platform`) and sends a
*request*: a verb, a product id, and a version or saved copy. Nothing else crosses:
the requester's identity comes from the OS (the pipe's client token, ``SO_PEERCRED``),
never from what it sends, and nothing it sends is a path, a command or a setting.

The elevated side reads at most :data:`MAX_REQUEST_BYTES`, checks every field,
applies its own rules (:meth:`updater.service.UpdaterService.apply_requests`: no
downgrade, no release held back by the staged rollout), and answers on the same
channel: progress, then the result or the error. The requester may send ``cancel``.
Each requester gets its own channel, so nobody reads, replaces or blocks anybody
else's request or result, and no file that a user could write is ever read by SYSTEM
for this. Why a channel and not a folder of request files: ``docs/security.md``.

This module is the protocol for both sides; the platform provides the transport.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Literal

from updater.errors import BusyError, NetworkError, StorageError, UpdaterError
from updater.i18n import _
from updater.observer import Observer, Step
from updater.platform.base import Channel, ChannelListener, Platform

__all__ = [
    "MAX_REQUEST_BYTES",
    "ChannelObserver",
    "Request",
    "ask",
    "error_document",
    "rebuild_error",
    "serve",
]

log = logging.getLogger(__name__)

#: A request longer than this is not read.
MAX_REQUEST_BYTES = 4096
#: The longest message the elevated updater sends (a result with its error hint).
MAX_MESSAGE_BYTES = 65536
#: How long the elevated updater waits for its first requester once started.
FIRST_WAIT_SECONDS = 60.0
#: How long it then waits for another before it exits.
IDLE_SECONDS = 5.0
#: A requester must send its request this soon after connecting.
REQUEST_WAIT_SECONDS = 10.0
#: Requests one run of the elevated updater serves, in all and per user: a user who
#: floods the channel is refused (and the next run starts afresh) instead of keeping
#: SYSTEM busy for everyone.
MAX_REQUESTS_PER_RUN = 100
MAX_REQUESTS_PER_USER = 20
#: How often the requester starts the task again while nobody serves the channel.
RESTART_SECONDS = 5.0
#: The longest either side waits for the other to read a message: a requester that
#: stops reading cannot stall the elevated updater (it is then treated as gone).
SEND_SECONDS = 5.0

_PRODUCT_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_-")
_TEXT_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._+!:-")

Action = Literal["update", "restore", "check", "poll"]
ACTIONS: tuple[Action, ...] = ("update", "restore", "check", "poll")


@dataclass(frozen=True)
class Request:
    """What the requester asks the elevated updater to do: data only."""

    action: Action
    product: str
    version: str | None = None  # update: the version to install
    snapshot: str | None = None  # restore: the saved copy (id or version)
    if_running: Literal["fail", "close"] = "fail"

    def to_bytes(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True).encode("utf-8")

    @classmethod
    def parse(cls, data: bytes) -> Request:
        """A request as :meth:`to_bytes` writes it, checked field by field.

        Raises:
            ValueError: anything else.
        """
        if len(data) > MAX_REQUEST_BYTES:
            raise ValueError("too large")
        raw = json.loads(data)
        if not isinstance(raw, dict) or set(raw) - set(cls.__dataclass_fields__):
            raise ValueError("unknown fields")
        action = raw.get("action")
        if action not in ACTIONS:
            raise ValueError("action")
        product = raw.get("product")
        if not (
            isinstance(product, str)
            and 1 <= len(product) <= 64
            and product[0].isascii()
            and product[0].isalpha()
            and set(product) <= _PRODUCT_CHARS
        ):
            raise ValueError("product")
        for name in ("version", "snapshot"):
            value = raw.get(name)
            if value is not None and not (
                isinstance(value, str) and 1 <= len(value) <= 100 and set(value) <= _TEXT_CHARS
            ):
                raise ValueError(name)
        if_running = raw.get("if_running", "fail")
        if if_running not in ("fail", "close"):
            raise ValueError("if_running")
        return cls(action, product, raw.get("version"), raw.get("snapshot"), if_running)


# ---------------------------------------------------------------- elevated side


class ChannelObserver:
    """An observer (elevated side) that sends the progress of one request to its
    requester (every step, and the bytes of the current one at most every 0.2 s) and
    reads its cancel. A requester that went away does not stop the work."""

    def __init__(self, channel: Channel) -> None:
        self.channel = channel
        self.gone = False
        self._cancelled = False
        self._last = 0.0

    def send(self, document: dict[str, Any]) -> None:
        if self.gone:
            return
        try:
            self.channel.send(json.dumps(document).encode("utf-8"), SEND_SECONDS)
        except (OSError, EOFError):  # TimeoutError included: it does not read
            self.gone = True

    def step(self, product: str, step: Step) -> None:
        self.send({"step": step.value})
        self._last = 0.0

    def progress(
        self, product: str, step: Step, done: int, total: int | None, rate: float | None = None
    ) -> None:
        now = time.monotonic()
        if now - self._last < 0.2 and (total is None or done < total):
            return
        self._last = now
        self.send({"progress": {"step": step.value, "done": done, "total": total, "rate": rate}})

    def journal(self, product: str, entry: str) -> None:
        return None

    def cancelled(self) -> bool:
        for _message in range(16):  # what has arrived, within reason
            if self._cancelled or self.gone:
                break
            try:
                data = self.channel.receive(0, MAX_REQUEST_BYTES)
            except (OSError, EOFError):
                self.gone = True
                break
            if data is None:
                break
            with contextlib.suppress(ValueError):
                self._cancelled = json.loads(data) == {"cancel": True}
        return self._cancelled


Handler = Callable[[Request, str, ChannelObserver], dict[str, Any]]


def serve(
    listener: ChannelListener,
    handle: Handler,
    *,
    first_wait: float = FIRST_WAIT_SECONDS,
    idle: float = IDLE_SECONDS,
) -> int:
    """Serve requesters one after the other until none comes for a while; returns how
    many requests ran. ``handle(request, user, observer)`` runs one and returns its
    result document, or raises :class:`UpdaterError`. Nothing a requester sends or
    does ends this loop: every failure is that requester's alone."""
    served = 0
    per_user: dict[str, int] = {}
    wait = first_wait
    while served < MAX_REQUESTS_PER_RUN:
        channel = listener.accept(wait)
        if channel is None:
            break
        wait = idle
        try:
            if _serve_one(channel, handle, per_user):
                served += 1
        except Exception:
            log.exception("A request could not be served")
        finally:
            channel.close()
    return served


def _serve_one(channel: Channel, handle: Handler, per_user: dict[str, int]) -> bool:
    """Read, check and run one request. Returns whether it ran."""
    observer = ChannelObserver(channel)
    try:
        data = channel.receive(REQUEST_WAIT_SECONDS, MAX_REQUEST_BYTES)
    except (OSError, EOFError) as exc:
        log.warning("A requester sent nothing usable: %s", exc)
        return False
    if data is None:
        log.warning("A requester sent no request in time")
        return False
    user = channel.peer()
    per_user[user] = per_user.get(user, 0) + 1
    if per_user[user] > MAX_REQUESTS_PER_USER:
        log.warning("Refused a request from %s: too many in one run", user)
        observer.send(_failure(BusyError(_("Too many requests; try again in a minute."))))
        return False
    try:
        request = Request.parse(data)
    except (ValueError, TypeError) as exc:
        log.warning("Refused a request from %s that is not one (%s)", user, exc)
        observer.send(_failure(UpdaterError(_("The updater service refused the request."))))
        return False
    log.info("Request from %s: %s", user, request)
    observer.send({"accepted": True})
    try:
        document = handle(request, user, observer)
    except UpdaterError as exc:
        observer.send(_failure(exc))
    else:
        observer.send({"ok": True, "result": document})
    return True


def _failure(exc: UpdaterError) -> dict[str, Any]:
    return {"ok": False, "error": error_document(exc)}


# ---------------------------------------------------------------- requester side


def ask(
    platform: Platform,
    name: str,
    request: Request,
    observer: Observer,
    *,
    start_timeout: float,
    busy: Callable[[], bool],
    timeout: float = 4 * 3600.0,
) -> dict[str, Any]:
    """Have the elevated updater run ``request``: start it, connect, send, pass its
    progress on to ``observer`` (and a cancel back); return its result document.

    Raises:
        UpdaterError: what the elevated updater raised; StorageError when it could not
            be started, did not answer, or is not who it must be (nothing was sent).
    """
    channel = _connect(platform, name, start_timeout, busy)
    try:
        try:
            channel.send(request.to_bytes(), SEND_SECONDS)
        except (OSError, EOFError) as exc:
            raise _service_error(
                _("The updater service did not start; nothing was changed.")
            ) from exc
        deadline = time.monotonic() + timeout
        cancel_sent = False
        while time.monotonic() < deadline:
            try:
                data = channel.receive(0.1, MAX_MESSAGE_BYTES)
            except (OSError, EOFError) as exc:
                raise _service_error(
                    _("The updater service stopped before it answered."),
                ) from exc
            if data is not None:
                result = _take_message(data, request.product, observer)
                if result is not None:
                    return result
            if not cancel_sent and observer.cancelled():
                with contextlib.suppress(OSError, EOFError):
                    channel.send(b'{"cancel": true}', SEND_SECONDS)
                cancel_sent = True
        raise NetworkError(
            _("The updater service did not finish the update in time."),
            hint=_("Look at the history; the update may still be running."),
        )
    finally:
        channel.close()


def _connect(
    platform: Platform, name: str, start_timeout: float, busy: Callable[[], bool]
) -> Channel:
    """Start the elevated updater and connect to it, starting it again now and then
    while nobody serves the channel (it may have been on its way out)."""
    started = 0.0
    deadline = time.monotonic() + start_timeout
    while True:
        now = time.monotonic()
        if now - started >= RESTART_SECONDS:
            started = now
            try:
                platform.start_elevated_worker()
            except OSError as exc:
                raise _service_error(
                    _("The updater service could not be started: {error}").format(
                        error=exc.strerror or exc
                    )
                ) from exc
        try:
            return platform.connect_elevated(name)
        except PermissionError as exc:
            log.error("The updater's channel is served by someone else: %s", exc)
            raise StorageError(
                _("Another program pretends to be the updater service; nothing was sent."),
                hint=_("Tell your IT support: this PC may have been tampered with."),
            ) from exc
        except OSError:
            if time.monotonic() > deadline:
                if busy():  # it is at work on a long job of its own; ours is next
                    deadline = time.monotonic() + start_timeout
                else:
                    raise _service_error(
                        _("The updater service did not start; nothing was changed.")
                    ) from None
            time.sleep(0.1)


def _take_message(data: bytes, product: str, observer: Observer) -> dict[str, Any] | None:
    """Pass one message on to ``observer``; the result document when it is the last.

    Raises:
        UpdaterError: the elevated updater's error.
    """
    try:
        message = json.loads(data)
    except ValueError:
        return None
    if not isinstance(message, dict):
        return None
    if "ok" in message:
        if message["ok"] is True:
            return dict(message.get("result") or {})
        raise rebuild_error(dict(message.get("error") or {}))
    with contextlib.suppress(ValueError, TypeError, KeyError):
        if "step" in message:
            observer.step(product, Step(message["step"]))
        elif isinstance(progress := message.get("progress"), dict):
            observer.progress(
                product, Step(progress["step"]), int(progress["done"]),
                progress.get("total"), progress.get("rate"),
            )  # fmt: skip
    return None


def _service_error(message: str) -> StorageError:
    """The elevated updater (the on-demand task) cannot be reached."""
    return StorageError(
        message, hint=_("Reinstall InnovaCommerce Updater, or run this as an administrator.")
    )


def error_document(exc: UpdaterError) -> dict[str, Any]:
    return {"code": exc.code, "message": exc.message, "hint": exc.hint, "type": type(exc).__name__}


def rebuild_error(document: dict[str, Any]) -> UpdaterError:
    """The error the elevated updater reported, as the same class where possible."""
    from updater import errors

    wanted = str(document.get("type", ""))
    cls = getattr(errors, wanted, None)
    message = str(document.get("message") or _("The update failed."))
    hint = document.get("hint")
    if isinstance(cls, type) and issubclass(cls, UpdaterError):
        try:
            return cls(message, hint=hint)
        except TypeError:  # a class with required details (e.g. an HTTP status)
            for base in cls.__mro__[1:]:
                if isinstance(base, type) and issubclass(base, UpdaterError):
                    with contextlib.suppress(TypeError):
                        return base(message, hint=hint)
    return UpdaterError(message, hint=hint)
