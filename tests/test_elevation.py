"""Handing updates to the elevated updater (Windows: a SYSTEM task the tray starts).

The request protocol is real: files in the state folder, and a real second process
running ``innova-update apply-requests``. Only "start the SYSTEM task" is replaced,
because it needs Windows: the test platform starts that process itself."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from packaging.version import Version

from tests.enginekit import tree
from tests.shopkit import Shop, make_tpv, package_path
from updater.config import load_config
from updater.elevation import Request, RequestFiles, rebuild_error
from updater.errors import HTTPStatusError, NetworkError, RolledBackError, StorageError
from updater.observer import NullObserver, Step
from updater.platform.posix import PosixPlatform
from updater.publish.repository import ReleaseSpec
from updater.service import UpdaterService

CLI = Path(sys.executable).with_name("innova-update")


class ElevatingPlatform(PosixPlatform):
    """Like Windows for a user who is not an administrator: updates are handed over."""

    def __init__(self, config: Path) -> None:
        super().__init__()
        self.config = config
        self.workers: list[subprocess.Popen[str]] = []

    def needs_elevation(self, install_dir: Path) -> bool:
        return True

    def start_elevated_worker(self) -> None:
        worker = subprocess.Popen(
            [str(CLI), "apply-requests", "--config", str(self.config)],
            env={**os.environ, "INNOVA_LANG": "en"},
            text=True,
        )
        self.workers.append(worker)
        # Reaped as soon as it ends, as the Task Scheduler would (no zombie is left
        # for the tests that count this process's children).
        threading.Thread(target=worker.wait, daemon=True).start()


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


def handed_over(shop: Shop) -> tuple[UpdaterService, ElevatingPlatform, Recorder]:
    platform = ElevatingPlatform(shop.config_path)
    recorder = Recorder()
    return (
        UpdaterService(load_config(shop.config_path), recorder, platform=platform),
        platform,
        recorder,
    )


def test_an_update_is_applied_by_the_elevated_updater(shop: Shop) -> None:
    build = make_tpv(shop.feed.base / "builds" / "1.0.1", "1.0.1")
    (build / "lib" / "noise.bin").write_bytes(os.urandom(60_000))  # ~1.5 s at the drip below
    shop.feed.repo.add_release(
        ReleaseSpec(product="tpv", version="1.0.1", channel="stable", notes_es="es",
                    notes_en="en", build_dir=build, deltas=0)
    )  # fmt: skip
    shop.feed.repo.publish(shop.feed.keyring)
    shop.server.override(package_path(shop, "1.0.1"), drip=(4096, 0.1))
    service, platform, recorder = handed_over(shop)
    result = service.update("tpv", to_version="1.0.1")
    assert result.outcome == "updated" and str(result.to_version) == "1.0.1"
    assert (shop.install_dir / "VERSION").read_text() == "1.0.1\n"
    assert len(platform.workers) == 1 and platform.workers[0].wait(timeout=60) == 0
    # The requester saw the elevated updater's progress, in order.
    assert recorder.steps[:2] == [Step.PREFLIGHT, Step.DOWNLOAD]
    assert recorder.steps[-2:] == [Step.HEALTH_CHECK, Step.COMMIT]
    assert recorder.downloaded and recorder.downloaded == sorted(recorder.downloaded)
    assert list((shop.service.state.root / "requests").iterdir()) == []  # nothing left


def test_a_failed_update_comes_back_as_the_same_error(shop: Shop) -> None:
    shop.publish("1.1.0", self_test_exit=1)
    before = tree(shop.install_dir)
    service, _platform, _recorder = handed_over(shop)
    with pytest.raises(RolledBackError, match="previous version has been restored"):
        service.update("tpv")
    assert tree(shop.install_dir) == before


def test_a_restore_is_applied_by_the_elevated_updater(shop: Shop) -> None:
    shop.publish("1.0.1")
    shop.service.update("tpv")
    service, _platform, _recorder = handed_over(shop)
    result = service.restore("tpv")
    assert str(result.to_version) == "1.0.0" and result.undo is not None
    assert (shop.install_dir / "VERSION").read_text() == "1.0.0\n"


def test_requests_are_checked_strictly(tmp_path: Path) -> None:
    files = RequestFiles(tmp_path)
    good = Request.new("update", "tpv", version="1.0.1")
    files.submit(good)
    (files.folder / ("a" * 32 + ".json")).write_text(
        json.dumps({"id": "a" * 32, "action": "run", "product": "tpv"})
    )
    (files.folder / ("b" * 32 + ".json")).write_text(
        json.dumps({**good.__dict__, "id": "b" * 32, "version": "1.0; rm -rf /"})
    )
    (files.folder / ("c" * 32 + ".json")).write_text(
        json.dumps({**good.__dict__, "id": "c" * 32, "command": "calc.exe"})
    )
    (files.folder / ("d" * 32 + ".json")).write_bytes(b"x" * 10_000)
    assert files.take() == [good]
    assert list(files.folder.iterdir()) == []  # bad ones are removed too
    with pytest.raises(ValueError):
        files.result("../../etc/passwd")


def test_errors_keep_their_class_when_they_can() -> None:
    assert isinstance(rebuild_error({"type": "RolledBackError", "message": "m"}), RolledBackError)
    http = rebuild_error({"type": "HTTPStatusError", "message": "m"})  # needs a status
    assert isinstance(http, NetworkError) and not isinstance(http, HTTPStatusError)
    assert rebuild_error({"type": "os.system", "message": "m"}).message == "m"


def test_a_check_and_a_poll_are_made_by_the_elevated_updater(shop: Shop) -> None:
    shop.publish("1.0.1")
    service, platform, _recorder = handed_over(shop)
    found = service.check()
    assert [str(c.offer.version) for c in found.choices if c.offer] == ["1.0.1"]
    assert len(platform.workers) == 1  # made by the other process, which wrote the history
    assert shop.service.history(limit=1)[0].operation.value == "check"
    polled = service.poll()
    assert polled.next_check is not None  # the schedule was kept by the elevated side
    assert len(platform.workers) == 2


def test_the_owners_choices_are_kept_where_the_owner_may_write(shop: Shop) -> None:
    from updater.preferences import OWNER_DIR

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
    assert list((shop.service.state.root / "requests").iterdir()) == []  # request withdrawn
