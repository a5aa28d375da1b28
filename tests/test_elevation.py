"""Handing updates to the elevated updater (Windows: a SYSTEM task the tray starts).

The protocol is real: a real channel (a named pipe under Windows, a Unix socket on
Linux) and a real second process running ``innova-update apply-requests``. Only
"start the SYSTEM task" is replaced, because it needs Windows' Task Scheduler: the
test platform starts that process itself, as the same user (so it is told to accept
that user as the elevated updater: the UAC boundary is what even Wine lacks)."""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from packaging.version import Version

from tests.elevating import ElevatingPlatform
from tests.elevating import PlatformClass as _Base
from tests.enginekit import tree
from tests.shopkit import Shop, make_tpv, package_path
from tests.wine import not_under_wine
from updater.errors import (
    BusyError,
    HTTPStatusError,
    NetworkError,
    RolledBackError,
    StorageError,
    UpdaterError,
)
from updater.machine import elevation
from updater.machine.config import load_config
from updater.machine.elevation import ChannelObserver, Request, ask, rebuild_error, serve
from updater.observer import NullObserver, Step
from updater.platform import current as current_platform
from updater.platform.base import Channel, channel_name
from updater.publish.repository import ReleaseSpec
from updater.service import UpdaterService


class Recorder(NullObserver):
    """Notes the steps and the download progress passed on to the requester."""

    def __init__(self) -> None:
        self.steps: list[Step] = []
        self.downloaded: list[int] = []

    def step(self, product: str, step: Step) -> None:
        self.steps.append(step)

    def progress(
        self, product: str, step: Step, done: int, total: int | None, rate: float | None = None
    ) -> None:
        if step == Step.DOWNLOAD:
            self.downloaded.append(done)


def handed_over(
    shop: Shop, platform: ElevatingPlatform
) -> tuple[UpdaterService, ElevatingPlatform, Recorder]:
    recorder = Recorder()
    return (
        UpdaterService(load_config(shop.config_path), recorder, platform=platform),
        platform,
        recorder,
    )


def test_an_update_is_applied_by_the_elevated_updater(
    shop: Shop, elevating: ElevatingPlatform
) -> None:
    build = make_tpv(shop.feed.base / "builds" / "1.0.1", "1.0.1")
    (build / "lib" / "noise.bin").write_bytes(os.urandom(60_000))  # ~1.5 s at the drip below
    shop.feed.repo.add_release(
        ReleaseSpec(product="tpv", version="1.0.1", channel="stable", notes_es="es",
                    notes_en="en", build_dir=build, deltas=0)
    )  # fmt: skip
    shop.feed.repo.publish(shop.feed.keyring)
    shop.server.override(package_path(shop, "1.0.1"), drip=(4096, 0.1))
    service, platform, recorder = handed_over(shop, elevating)
    result = service.update("tpv", to_version="1.0.1")
    assert result.outcome == "updated" and str(result.to_version) == "1.0.1"
    assert (shop.install_dir / "VERSION").read_text() == "1.0.1\n"
    assert platform.workers  # the task was started (again, if it was slow to come up)
    # The requester saw the elevated updater's progress, in order.
    assert recorder.steps[:2] == [Step.PREFLIGHT, Step.DOWNLOAD]
    assert recorder.steps[-2:] == [Step.HEALTH_CHECK, Step.COMMIT]
    assert recorder.downloaded and recorder.downloaded == sorted(recorder.downloaded)
    assert not (shop.service.state.root / "requests").exists()  # no files handed over


def test_a_failed_update_comes_back_as_the_same_error(
    shop: Shop, elevating: ElevatingPlatform
) -> None:
    shop.publish("1.1.0", self_test_exit=1)
    before = tree(shop.install_dir)
    service, _platform, _recorder = handed_over(shop, elevating)
    with pytest.raises(RolledBackError, match="previous version has been restored"):
        service.update("tpv")
    assert tree(shop.install_dir) == before


def test_a_restore_is_applied_by_the_elevated_updater(
    shop: Shop, elevating: ElevatingPlatform
) -> None:
    shop.publish("1.0.1")
    shop.service.update("tpv")
    service, _platform, _recorder = handed_over(shop, elevating)
    result = service.restore("tpv")
    assert str(result.to_version) == "1.0.0" and result.undo is not None
    assert (shop.install_dir / "VERSION").read_text() == "1.0.0\n"


def test_requests_are_checked_strictly() -> None:
    good = Request("update", "tpv", version="1.0.1")
    assert Request.parse(good.to_bytes()) == good
    bad = [
        {"action": "run", "product": "tpv"},
        {"action": "update", "product": "tpv", "version": "1.0; rm -rf /"},
        {"action": "update", "product": "tpv", "command": "calc.exe"},
        {"action": "update", "product": "tpv", "user": "Administrator"},  # the OS says who
        {"action": "update", "product": "../tpv"},
        {"action": "update", "product": "tpv", "version": ["1.0"]},
        {"action": "restore", "product": "tpv", "snapshot": "..\\..\\x"},
        {"action": "update", "product": "tpv", "if_running": "kill"},
    ]
    for document in bad:
        with pytest.raises(ValueError):
            Request.parse(json.dumps(document).encode())
    with pytest.raises(ValueError):
        Request.parse(b"x" * 10_000)
    with pytest.raises(ValueError):
        Request.parse(b"[1, 2]")


def test_errors_keep_their_class_when_they_can() -> None:
    assert isinstance(rebuild_error({"type": "RolledBackError", "message": "m"}), RolledBackError)
    http = rebuild_error({"type": "HTTPStatusError", "message": "m"})  # needs a status
    assert isinstance(http, NetworkError) and not isinstance(http, HTTPStatusError)
    assert rebuild_error({"type": "os.system", "message": "m"}).message == "m"


def test_a_check_and_a_poll_are_made_by_the_elevated_updater(
    shop: Shop, elevating: ElevatingPlatform
) -> None:
    shop.publish("1.0.1")
    service, platform, _recorder = handed_over(shop, elevating)
    found = service.check()
    assert [str(c.offer.version) for c in found.choices if c.offer] == ["1.0.1"]
    started = len(platform.workers)
    assert started >= 1  # made by the other process, which wrote the history
    assert shop.service.history(limit=1)[0].operation.value == "check"
    polled = service.poll()
    assert polled.next_check is not None  # the schedule was kept by the elevated side
    assert len(platform.workers) > started  # each hand-over starts the task


def test_the_owners_choices_are_kept_where_the_owner_may_write(shop: Shop) -> None:
    from updater.machine.preferences import OWNER_DIR

    shop.service.skip("tpv", Version("1.1.0"))
    assert (shop.service.state.root / OWNER_DIR / "preferences.json").is_file()


def test_a_task_that_never_starts_is_reported_and_nothing_changes(shop: Shop) -> None:
    shop.publish("1.0.1")
    before = tree(shop.install_dir)

    class DeadTask(ElevatingPlatform):
        def start_elevated_worker(self) -> None:
            return None  # registered but disabled, say

    service = UpdaterService(load_config(shop.config_path), platform=DeadTask(shop.config_path))
    service.elevated_start_timeout = 1.0
    with pytest.raises(StorageError, match="did not start"):
        service.update("tpv")
    assert tree(shop.install_dir) == before


# --------------------------------------------------- the channel, attacked directly


class Me(_Base):  # type: ignore[misc]
    """A requester's platform for an elevated side served in this process, as us."""

    def __init__(self) -> None:
        super().__init__()
        self.elevated_identity = self.own_identity()

    def start_elevated_worker(self) -> None:
        return None  # already serving


class Served:
    """:func:`serve` on a real channel in a thread, recording what it ran."""

    def __init__(self, name: str, handle: elevation.Handler | None = None) -> None:
        self.name = name
        self.ran: list[tuple[Request, str]] = []
        self._handle = handle
        self.listener = current_platform.listen_elevated(name)
        self.served: list[int] = []
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        self.served.append(serve(self.listener, self.handle, first_wait=20, idle=1.0))

    def handle(self, request: Request, user: str, observer: ChannelObserver) -> dict[str, Any]:
        self.ran.append((request, user))
        if self._handle is not None:
            return self._handle(request, user, observer)
        return {"done": request.action}

    def join(self) -> int:
        self.thread.join(timeout=60)
        self.listener.close()
        return self.served[0]


def answer(channel: Channel) -> dict[str, Any] | None:
    """The elevated side's last message to a raw client, None if it said nothing."""
    last = None
    try:
        while (data := channel.receive(5, 65536)) is not None:
            last = json.loads(data)
            if "ok" in last:
                break
    except EOFError:
        pass
    return last


def test_the_elevated_side_knows_the_requester_from_the_os(tmp_path: Path) -> None:
    served = Served(channel_name(tmp_path))
    me = Me()
    result = ask(me, served.name, Request("check", "tpv"), NullObserver(),
                 start_timeout=10, busy=lambda: False)  # fmt: skip
    assert result == {"done": "check"}
    assert served.ran == [(Request("check", "tpv"), me.own_identity())]
    assert served.join() == 1


def test_nothing_a_requester_sends_blocks_or_breaks_the_channel(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(elevation, "REQUEST_WAIT_SECONDS", 1.0)
    served = Served(channel_name(tmp_path))
    me = Me()
    silent = me.connect_elevated(served.name)  # connects and sends nothing
    assert answer(silent) is None
    silent.close()
    huge = me.connect_elevated(served.name)
    with pytest.raises((OSError, EOFError)):  # refused unread, or cut off
        huge.send(b"{" + b" " * 5_000_000 + b"}", 5)
        answer(huge)
    huge.close()
    garbage = me.connect_elevated(served.name)
    garbage.send(b'{"action": "update", "product": "tpv", "command": "cmd /c x"}', 5)
    refused = answer(garbage)
    assert refused is not None and refused["ok"] is False
    garbage.close()
    me.connect_elevated(served.name).close()  # gone before saying anything
    result = ask(me, served.name, Request("update", "tpv", version="1.0.1"), NullObserver(),
                 start_timeout=10, busy=lambda: False)  # fmt: skip
    assert result == {"done": "update"}
    assert [request for request, _user in served.ran] == [Request("update", "tpv", "1.0.1")]
    assert served.join() == 1


def test_one_user_cannot_flood_the_elevated_updater(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(elevation, "MAX_REQUESTS_PER_USER", 3)
    served = Served(channel_name(tmp_path))
    me = Me()
    for _round in range(3):
        ask(me, served.name, Request("poll", "tpv"), NullObserver(), start_timeout=10,
            busy=lambda: False)  # fmt: skip
    with pytest.raises(BusyError, match="Too many requests"):
        ask(me, served.name, Request("poll", "tpv"), NullObserver(), start_timeout=10,
            busy=lambda: False)  # fmt: skip
    assert len(served.ran) == 3 and served.join() == 3


def test_a_squatter_on_the_channel_is_told_nothing(tmp_path: Path) -> None:
    """Another user serves the channel's name first: the requester sees that the
    server is not the elevated updater and sends nothing."""
    squatter = current_platform.listen_elevated(channel_name(tmp_path))
    heard: list[object] = []

    def listen() -> None:
        channel = squatter.accept(20)
        if channel is not None:
            with pytest.raises(EOFError):
                heard.append(channel.receive(20, 65536))
            channel.close()

    thread = threading.Thread(target=listen)
    thread.start()
    victim = Me()
    victim.elevated_identity = "S-1-5-18" if sys.platform == "win32" else "4294967294"
    with pytest.raises(StorageError, match="pretends to be the updater"):
        ask(victim, channel_name(tmp_path), Request("update", "tpv"), NullObserver(),
            start_timeout=10, busy=lambda: False)  # fmt: skip
    thread.join(timeout=30)
    squatter.close()
    assert heard == []


@not_under_wine("FILE_FLAG_FIRST_PIPE_INSTANCE is ignored (a second server is let in)")
def test_the_channel_cannot_be_served_twice(tmp_path: Path) -> None:
    first = current_platform.listen_elevated(channel_name(tmp_path))
    try:
        with pytest.raises(OSError):
            current_platform.listen_elevated(channel_name(tmp_path))
    finally:
        first.close()


def test_a_cancel_reaches_the_elevated_side(tmp_path: Path) -> None:
    seen: list[bool] = []

    def slow(request: Request, user: str, observer: ChannelObserver) -> dict[str, Any]:
        observer.step(request.product, Step.DOWNLOAD)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not observer.cancelled():
            time.sleep(0.05)
        seen.append(observer.cancelled())
        raise UpdaterError("cancelled as asked")

    class Impatient(Recorder):
        def cancelled(self) -> bool:
            return Step.DOWNLOAD in self.steps  # once the work has started

    served = Served(channel_name(tmp_path), slow)
    recorder = Impatient()
    with pytest.raises(UpdaterError, match="cancelled as asked"):
        ask(Me(), served.name, Request("update", "tpv"), recorder, start_timeout=10,
            busy=lambda: False)  # fmt: skip
    assert seen == [True] and recorder.steps == [Step.DOWNLOAD]
    served.join()


def test_a_requester_that_stops_reading_does_not_stall_the_elevated_side(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(elevation, "SEND_SECONDS", 0.5)
    sent: list[int] = []

    def chatty(request: Request, user: str, observer: ChannelObserver) -> dict[str, Any]:
        for _n in range(20_000):  # ~1 MB of progress: far more than a pipe holds
            observer.send({"step": "download", "padding": "x" * 40})
            sent.append(1)
        return {"done": True}

    served = Served(channel_name(tmp_path), chatty)
    me = Me()
    mute = me.connect_elevated(served.name)
    mute.send(Request("update", "tpv").to_bytes(), 5)  # and never reads again
    deadline = time.monotonic() + 30
    while len(sent) < 20_000 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(sent) == 20_000  # the work went on: the mute requester counts as gone
    result = ask(me, served.name, Request("check", "tpv"), NullObserver(),
                 start_timeout=10, busy=lambda: False)  # fmt: skip
    assert result == {"done": True}
    mute.close()
    served.join()
