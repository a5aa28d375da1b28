"""Handing an update to the elevated updater, for a process that may not apply it.

On Windows the tray runs as the shop owner, who is not an administrator, and the
programs live in Program Files. The tray never elevates and never shows a UAC prompt:
it writes a *request* (which product, which version or saved copy, what to do if the
program is open) into ``<state>/requests/``, the one folder of the state where users
may create files, and starts the on-demand scheduled task that runs
``innova-update apply-requests`` as SYSTEM (see :mod:`updater.machine`). That process
takes each request, checks it strictly (it is data only: nothing in it is executed or
loaded, and the update it asks for is verified like any other), deletes it, and runs
it, writing the progress and then the result next to it for the requester to read.
The requester can ask to cancel by creating ``<id>.cancel``.

This module is the file protocol; :class:`updater.service.UpdaterService` uses it on
both sides, so the tray and the CLI call ``update()`` and ``restore()`` as always.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import re
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from updater.errors import UpdaterError
from updater.fsutil import write_atomic
from updater.i18n import _
from updater.observer import Step

__all__ = ["REQUESTS_DIR", "ProgressFile", "Request", "RequestFiles"]

REQUESTS_DIR = "requests"
#: A request file larger than this is not a request.
MAX_REQUEST_BYTES = 4096
_ID = re.compile(r"^[0-9a-f]{32}$")
_PRODUCT = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")
_TEXT = re.compile(r"^[A-Za-z0-9._+!:-]{1,100}$")

Action = Literal["update", "restore", "check", "poll"]


@dataclass(frozen=True)
class Request:
    """What the requester asks the elevated updater to do."""

    id: str
    action: Action
    product: str
    version: str | None = None  # update: the version to install
    snapshot: str | None = None  # restore: the saved copy (id or version)
    if_running: Literal["fail", "close"] = "fail"
    user: str = ""

    @classmethod
    def new(
        cls,
        action: Action,
        product: str,
        *,
        version: str | None = None,
        snapshot: str | None = None,
        if_running: Literal["fail", "close"] = "fail",
    ) -> Request:
        try:
            user = getpass.getuser()
        except (OSError, KeyError):
            user = ""
        return cls(uuid.uuid4().hex, action, product, version, snapshot, if_running, user[:100])

    @classmethod
    def parse(cls, data: bytes) -> Request:
        """A request as written by :meth:`RequestFiles.submit`, checked field by field.

        Raises:
            ValueError: anything else.
        """
        if len(data) > MAX_REQUEST_BYTES:
            raise ValueError("too large")
        raw = json.loads(data)
        if not isinstance(raw, dict) or set(raw) - set(cls.__dataclass_fields__):
            raise ValueError("unknown fields")
        actions = ("update", "restore", "check", "poll")
        if not _ID.match(str(raw.get("id", ""))) or raw.get("action") not in actions:
            raise ValueError("id or action")
        if not _PRODUCT.match(str(raw.get("product", ""))):
            raise ValueError("product")
        for name in ("version", "snapshot"):
            value = raw.get(name)
            if value is not None and not (isinstance(value, str) and _TEXT.match(value)):
                raise ValueError(name)
        if raw.get("if_running", "fail") not in ("fail", "close"):
            raise ValueError("if_running")
        return cls(
            id=raw["id"], action=raw["action"], product=raw["product"],
            version=raw.get("version"), snapshot=raw.get("snapshot"),
            if_running=raw.get("if_running", "fail"), user=str(raw.get("user", ""))[:100],
        )  # fmt: skip


class RequestFiles:
    """The ``requests`` folder of a state folder."""

    def __init__(self, state_root: Path) -> None:
        self.folder = state_root / REQUESTS_DIR

    def _path(self, request_id: str, suffix: str) -> Path:
        if not _ID.match(request_id):
            raise ValueError(f"not a request id: {request_id!r}")
        return self.folder / f"{request_id}{suffix}"

    # the requester's side
    def submit(self, request: Request) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        data = json.dumps(asdict(request), sort_keys=True).encode("utf-8")
        write_atomic(self._path(request.id, ".json"), data)

    def cancel(self, request_id: str) -> None:
        with contextlib.suppress(OSError):
            self._path(request_id, ".cancel").touch()

    def progress(self, request_id: str) -> dict[str, Any] | None:
        return _read_json(self._path(request_id, ".progress.json"))

    def result(self, request_id: str) -> dict[str, Any] | None:
        return _read_json(self._path(request_id, ".result.json"))

    def forget(self, request_id: str) -> None:
        for suffix in (".json", ".progress.json", ".result.json", ".cancel"):
            with contextlib.suppress(OSError):
                self._path(request_id, suffix).unlink()

    # the elevated side
    def take(self) -> list[Request]:
        """Every waiting request, oldest first, each removed from the folder as it is
        taken; files that are not valid requests are removed too."""
        if not self.folder.is_dir():
            return []
        found = []
        candidates = sorted(
            (p for p in self.folder.glob("*.json") if _ID.match(p.name.removesuffix(".json"))),
            key=lambda p: p.stat().st_mtime,
        )
        for path in candidates:
            with contextlib.suppress(OSError, ValueError, TypeError):
                found.append(Request.parse(path.read_bytes()))
            with contextlib.suppress(OSError):
                path.unlink()
        return found

    def cancelled(self, request_id: str) -> bool:
        return self._path(request_id, ".cancel").exists()

    def write_progress(self, request_id: str, document: dict[str, Any]) -> None:
        with contextlib.suppress(OSError):
            write_atomic(self._path(request_id, ".progress.json"), json.dumps(document).encode())

    def write_result(self, request_id: str, document: dict[str, Any]) -> None:
        write_atomic(self._path(request_id, ".result.json"), json.dumps(document).encode())


class ProgressFile:
    """An observer (elevated side) that writes the progress of one request for its
    requester (every step so far, and the bytes of the current one at most every
    0.2 s), and reads its cancel file."""

    def __init__(self, files: RequestFiles, request_id: str) -> None:
        self.files = files
        self.id = request_id
        self.steps: list[str] = []
        self._last = 0.0

    def _write(self, product: str, extra: dict[str, Any]) -> None:
        self.files.write_progress(self.id, {"product": product, "steps": self.steps, **extra})

    def step(self, product: str, step: Step) -> None:
        self.steps.append(step.value)
        self._write(product, {})
        self._last = 0.0

    def progress(
        self, product: str, step: Step, done: int, total: int | None, rate: float | None = None
    ) -> None:
        now = time.monotonic()
        if now - self._last < 0.2 and (total is None or done < total):
            return
        self._last = now
        self._write(product, {"step": step.value, "done": done, "total": total, "rate": rate})

    def journal(self, product: str, entry: str) -> None:
        return None

    def cancelled(self) -> bool:
        return self.files.cancelled(self.id)


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None  # not there yet, or being replaced
    return data if isinstance(data, dict) else None


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
