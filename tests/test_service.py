"""The service facade end to end: a feed built by the publisher, served over HTTP on
127.0.0.1, a machine configuration file, real program folders, real health checks."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from random import Random

import pytest
from packaging.version import Version

from tests import disks
from tests.apps import install_app
from tests.enginekit import tree
from tests.feedserver import feed_server
from tests.nginx import nginx_server
from tests.shopkit import (
    FAILURE_CODE,
    REBOOT_CODE,
    Shop,
    make_tpv,
    package_path,
    publish_installer,
    write_config,
)
from updater.errors import (
    AppRunningError,
    BusyError,
    InstallError,
    NetworkError,
    PreflightError,
    RollbackError,
    RolledBackError,
    UpdaterError,
)
from updater.feed.choose import rollout_bucket
from updater.feed.fetch import NetworkLimits
from updater.feed.manifest import _validator
from updater.feed.schedule import PollState, PollStore
from updater.install.transaction import pending_journals
from updater.machine.config import load_config
from updater.machine.history import Operation, Outcome
from updater.observer import NullObserver, Step
from updater.publish.repository import ReleaseSpec
from updater.service import UpdaterService


def test_check_offers_the_newest_compatible_release(shop: Shop) -> None:
    shop.publish("1.0.1")
    shop.publish("1.1.0", prestashop=">=9")
    result = shop.service.check()
    [choice] = result.choices
    assert str(choice.installed) == "1.0.0"
    assert choice.offer is not None and str(choice.offer.version) == "1.0.1"
    assert choice.offer.kind.value == "bugfix"
    [refused] = choice.not_offered
    assert str(refused.release.version) == "1.1.0"
    assert "needs PrestaShop >=9 and this shop has 8.1.2" in refused.reason
    [entry] = shop.service.history()
    assert entry.operation == Operation.CHECK and entry.outcome == Outcome.SUCCESS


def test_update_installs_the_new_version_and_keeps_a_snapshot(shop: Shop) -> None:
    old = tree(shop.install_dir)
    shop.publish("1.0.1")
    result = shop.service.update("tpv")
    assert result.outcome == "updated" and str(result.to_version) == "1.0.1"
    assert (shop.install_dir / "VERSION").read_text() == "1.0.1\n"
    [snapshot] = shop.service.snapshots("tpv")
    assert snapshot.version == "1.0.0"
    assert tree(snapshot.path / "program") == old
    assert not list(shop.service.state.downloads.iterdir())
    update = shop.service.history()[0]
    assert (update.operation, update.outcome) == (Operation.UPDATE, Outcome.SUCCESS)
    assert (update.from_version, update.to_version) == ("1.0.0", "1.0.1")


def test_failed_health_check_rolls_back_automatically(shop: Shop) -> None:
    old_program, old_data = tree(shop.install_dir), tree(shop.data_dir)
    shop.publish("2.0.0", self_test_exit=3)
    with pytest.raises(RolledBackError) as caught:
        shop.service.update("tpv")
    assert "Your previous version has been restored" in caught.value.message
    assert "self-check" in (caught.value.hint or "")
    assert tree(shop.install_dir) == old_program
    assert tree(shop.data_dir) == old_data
    assert pending_journals(shop.service.state.journal_dir) == []
    entry = shop.service.history()[0]
    assert entry.outcome == Outcome.ROLLED_BACK and entry.error_code == "install.health"
    # and it can be tried again another day: the same release is still offered
    assert shop.service.check().choices[0].offer is not None


def test_restore_previous_version_and_undo_the_restore(shop: Shop) -> None:
    old_program = tree(shop.install_dir)
    shop.publish("1.1.0")
    shop.service.update("tpv")
    new_program = tree(shop.install_dir)
    (shop.data_dir / "shop.db").write_bytes(b"sales made with 1.1.0")
    result = shop.service.restore("tpv")
    assert str(result.to_version) == "1.0.0" and str(result.from_version) == "1.1.0"
    assert tree(shop.install_dir) == old_program
    assert result.changed_data == (shop.data_dir,)
    assert result.undo is not None and result.undo.version == "1.1.0"
    # nothing is lost: the newer data is in the undo snapshot, and the restore undoes
    shop.service.restore("tpv", snapshot=result.undo.id)
    assert tree(shop.install_dir) == new_program
    assert (shop.data_dir / "shop.db").read_bytes() == b"sales made with 1.1.0"
    operations = [e.operation for e in shop.service.history()[:3]]
    assert operations == [Operation.RESTORE, Operation.RESTORE, Operation.UPDATE]


@pytest.fixture
def running_app(shop: Shop) -> Iterator[subprocess.Popen[str]]:
    """The TPV running from its install folder, as a till does all day."""
    launcher = install_app(shop.install_dir, "tpv-app")
    app = subprocess.Popen(
        launcher.argv("normal"), stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True
    )
    assert app.stdout is not None and app.stdout.readline().strip() == "ready"
    yield app
    app.kill()
    app.wait()


def test_running_app_is_not_updated(shop: Shop, running_app: subprocess.Popen[str]) -> None:
    shop.publish("1.0.1")
    before = tree(shop.install_dir)
    with pytest.raises(AppRunningError, match="running") as caught:
        shop.service.update("tpv")
    assert caught.value.processes == (running_app.pid,)
    assert tree(shop.install_dir) == before


def test_running_app_is_closed_when_asked(shop: Shop, running_app: subprocess.Popen[str]) -> None:
    shop.publish("1.0.1")
    shop.service.update("tpv", if_running="close", wait_seconds=5)
    assert running_app.wait(timeout=10) is not None
    assert (shop.install_dir / "VERSION").read_text() == "1.0.1\n"


def test_failing_pre_snapshot_hook_changes_nothing(shop: Shop, tmp_path: Path) -> None:
    config = write_config(
        tmp_path / "hook.toml", url=shop.server.url, root=shop.service.config.feed.root,
        install=shop.install_dir, data=shop.data_dir, state=shop.service.state.root,
        extra=f"[products.tpv.hooks]\npre_snapshot = ['{sys.executable}', '-c', 'exit(4)']\n",
    )  # fmt: skip
    service = UpdaterService(load_config(config))
    shop.publish("1.0.1")
    before = tree(shop.install_dir)
    with pytest.raises(InstallError, match="pre_snapshot"):
        service.update("tpv")
    assert tree(shop.install_dir) == before
    assert service.snapshots("tpv") == []
    assert service.history()[0].outcome == Outcome.FAILED


def test_dry_run_and_nothing_to_do(shop: Shop) -> None:
    assert shop.service.update("tpv").outcome == "nothing_to_do"
    shop.publish("1.0.1")
    before = tree(shop.install_dir)
    result = shop.service.update("tpv", dry_run=True)
    assert result.outcome == "dry_run" and str(result.to_version) == "1.0.1"
    assert tree(shop.install_dir) == before


def test_incompatible_target_version_is_a_preflight_error(shop: Shop) -> None:
    shop.publish("2.0.0", prestashop="<1.7")
    with pytest.raises(PreflightError, match=r"needs PrestaShop <1\.7"):
        shop.service.update("tpv", to_version="2.0.0")


def test_second_updater_gets_busy(shop: Shop) -> None:
    with shop.service.state.lock(), pytest.raises(BusyError):
        shop.service.update("tpv")


def test_observer_sees_the_pipeline(shop: Shop) -> None:
    steps: list[Step] = []

    class Steps(NullObserver):
        def step(self, product: str, step: Step) -> None:
            steps.append(step)

    shop.publish("1.0.1")
    UpdaterService(shop.service.config, Steps()).update("tpv")
    assert steps == [
        Step.PREFLIGHT, Step.DOWNLOAD, Step.STAGE, Step.SNAPSHOT, Step.SWAP,
        Step.HEALTH_CHECK, Step.COMMIT,
    ]  # fmt: skip


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 2 MB disk (tests/disks.py)."""
    yield from disks.small_disk(tmp_path / "small-disk", "2m")


def test_not_enough_disk_space_is_found_before_anything_changes(
    shop: Shop, tmp_path: Path, small_disk: Path
) -> None:
    disk = small_disk
    install = disk / "TPV"
    shutil.copytree(shop.install_dir, install)
    config = write_config(
        tmp_path / "small.toml", url=shop.server.url, root=shop.service.config.feed.root,
        install=install, data=shop.data_dir, state=shop.service.state.root,
    )  # fmt: skip
    service = UpdaterService(load_config(config))
    build = make_tpv(tmp_path / "big-build", "3.0.0")
    (build / "lib" / "big.bin").write_bytes(os.urandom(3 * 2**20))
    shop.feed.repo.add_release(
        ReleaseSpec(product="tpv", version="3.0.0", channel="stable", notes_es="es",
                    notes_en="en", build_dir=build)
    )  # fmt: skip
    shop.feed.repo.publish(shop.feed.keyring)
    before = tree(install)
    with pytest.raises(PreflightError, match="Not enough disk space"):
        service.update("tpv")
    assert tree(install) == before
    assert [p.name for p in disk.iterdir()] == ["TPV"]


# --- installer packages (exe/msi): on POSIX the platform twin runs them as shell scripts ---


def test_installer_package_updates_in_place(shop: Shop) -> None:
    old = tree(shop.install_dir)
    publish_installer(shop, "1.5.0", code=0)
    result = shop.service.update("tpv")
    assert result.outcome == "updated" and not result.reboot_required
    assert (shop.install_dir / "VERSION").read_text() == "1.5.0\n"
    assert (shop.install_dir / "lib" / "added.bin").read_bytes() == b"added"
    [snapshot] = shop.service.snapshots("tpv")
    assert tree(snapshot.path / "program") == old


def test_installer_reboot_code_is_success_with_a_reboot_pending(shop: Shop) -> None:
    publish_installer(shop, "1.5.0", code=REBOOT_CODE)
    result = shop.service.update("tpv")
    assert result.outcome == "updated" and result.reboot_required


def test_failed_installer_is_rolled_back_exactly(shop: Shop) -> None:
    """The installer changed files, then failed: everything is put back."""
    old_program, old_data = tree(shop.install_dir), tree(shop.data_dir)
    publish_installer(shop, "1.5.0", code=FAILURE_CODE)
    with pytest.raises(RolledBackError) as caught:
        shop.service.update("tpv")
    assert f"exit code {FAILURE_CODE}" in (caught.value.hint or "")
    assert tree(shop.install_dir) == old_program
    assert tree(shop.data_dir) == old_data
    assert shop.service.snapshots("tpv") == []
    assert not [p for p in shop.install_dir.parent.iterdir() if ".innova-" in p.name]


def test_installer_that_installs_the_wrong_version_is_rolled_back(shop: Shop) -> None:
    old_program = tree(shop.install_dir)
    publish_installer(shop, "1.5.0", code=0, writes="1.4.9")
    with pytest.raises(RolledBackError) as caught:
        shop.service.update("tpv")
    assert "1.4.9" in (caught.value.hint or "")
    assert tree(shop.install_dir) == old_program


def test_an_unreachable_feed_address_moves_on_to_the_mirror(shop: Shop, tmp_path: Path) -> None:
    config = write_config(
        tmp_path / "mirrors.toml", url="http://127.0.0.1:9/", mirrors=(shop.server.url,),
        root=shop.service.config.feed.root, install=shop.install_dir, data=shop.data_dir,
        state=shop.service.state.root,
    )  # fmt: skip
    shop.publish("1.0.1")
    assert UpdaterService(load_config(config)).update("tpv").outcome == "updated"


def test_a_stale_mirror_cannot_downgrade_and_the_next_one_is_used(
    shop: Shop, tmp_path: Path
) -> None:
    stale = tmp_path / "stale-copy"
    shutil.copytree(shop.feed.repo.feed_dir, stale)
    shop.publish("1.0.1")
    shop.service.check()  # this PC has seen the newer feed
    for stale_server in feed_server(stale):
        config = write_config(
            tmp_path / "stale.toml", url=stale_server.url, mirrors=(shop.server.url,),
            root=shop.service.config.feed.root, install=shop.install_dir, data=shop.data_dir,
            state=shop.service.state.root,
        )  # fmt: skip
        [choice] = UpdaterService(load_config(config)).check().choices
        assert choice.offer is not None and str(choice.offer.version) == "1.0.1"
        only_stale = write_config(
            tmp_path / "only-stale.toml", url=stale_server.url,
            root=shop.service.config.feed.root, install=shop.install_dir, data=shop.data_dir,
            state=shop.service.state.root,
        )  # fmt: skip
        with pytest.raises(RollbackError):
            UpdaterService(load_config(only_stale)).check()


def test_unreachable_feed_shows_the_last_verified_check(shop: Shop, tmp_path: Path) -> None:
    shop.publish("1.0.1")
    online = shop.service.check()
    assert not online.offline
    config = write_config(
        tmp_path / "offline.toml", url="http://127.0.0.1:9/",
        root=shop.service.config.feed.root, install=shop.install_dir, data=shop.data_dir,
        state=shop.service.state.root,
    )  # fmt: skip
    offline = UpdaterService(load_config(config)).check()
    assert offline.offline
    assert abs((offline.checked_at - online.checked_at).total_seconds()) < 5
    [choice] = offline.choices
    assert choice.offer is not None and str(choice.offer.version) == "1.0.1"
    # a kept manifest that does not match what was verified is never shown
    kept = shop.service.state.root / "last-manifest.json"
    kept.write_bytes(kept.read_bytes().replace(b"1.0.1", b"9.9.9"))
    with pytest.raises(NetworkError):
        UpdaterService(load_config(config)).check()


def test_a_check_validates_the_manifest_only_when_its_bytes_changed(shop: Shop) -> None:
    """The JSON Schema (most of a large feed's check) runs once per manifest a PC sees."""
    shop.publish("1.0.1")
    kept = shop.service.state.root / "last-manifest.json"

    def validations() -> int:
        info = _validator.cache_info()
        return info.hits + info.misses

    before = validations()
    shop.service.check()
    assert validations() == before + 1
    written = kept.stat().st_mtime_ns, kept.stat().st_ino
    again = UpdaterService(shop.service.config).check()  # a new process would do the same
    assert again.choices[0].offer is not None and str(again.choices[0].offer.version) == "1.0.1"
    assert validations() == before + 1
    assert (kept.stat().st_mtime_ns, kept.stat().st_ino) == written  # not written again
    shop.publish("1.0.2")  # (the publisher validates too, in this process)
    before = validations()
    newer = shop.service.check()
    assert newer.choices[0].offer is not None and str(newer.choices[0].offer.version) == "1.0.2"
    assert validations() == before + 1
    # Bytes that differ from what the last check kept are never taken as validated.
    last = shop.service.state.root / "last-check.json"
    record = json.loads(last.read_text())
    record["manifest_sha256"] = "0" * 64
    last.write_text(json.dumps(record))
    shop.service.check()
    assert validations() == before + 2


# --- a shop on a bad network: every fault leaves the install untouched, then it works ---


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        ({"drip": (200, 0.5)}, "SlowRetrievalError"),
        ({"early_close": True}, "NetworkError"),
        ({"status": 503, "headers": {"Retry-After": "60"}}, "HTTPStatusError"),
        ({"body": b"<html><body>Hotel WiFi login</body></html>"}, "IntegrityError"),
    ],
    ids=["stall", "early-close", "busy", "html"],
)  # fmt: skip
def test_download_faults_change_nothing_and_a_later_attempt_works(
    shop: Shop, fault: dict[str, object], error: str
) -> None:
    shop.publish("1.0.1")
    before = tree(shop.install_dir)
    limits = NetworkLimits(min_bytes_per_second=5000, throughput_grace_seconds=0.5)
    service = UpdaterService(shop.service.config, limits=limits)
    path = package_path(shop, "1.0.1")
    if fault.pop("early_close", False):  # the right Content-Length, then the line drops
        real = (shop.feed.repo.feed_dir / path).read_bytes()
        fault = {
            "body": real[:1000],
            "headers": {"Content-Length": str(len(real)), "Connection": "close"},
        }
    shop.server.override(path, **fault)  # type: ignore[arg-type]
    with pytest.raises(UpdaterError) as caught:
        service.update("tpv")
    assert type(caught.value).__name__ == error
    assert tree(shop.install_dir) == before
    assert service.snapshots("tpv") == []
    shop.server.clear_overrides()
    assert service.update("tpv").outcome == "updated"
    assert (shop.install_dir / "VERSION").read_text() == "1.0.1\n"


def test_update_from_a_feed_hosted_on_nginx(shop: Shop, tmp_path: Path) -> None:
    """The feed folder as a publisher would host it: a plain static web server."""
    shop.publish("1.0.1")
    for nginx in nginx_server(shop.feed.repo.feed_dir):
        config = write_config(
            tmp_path / "nginx.toml", url=nginx.url, root=shop.service.config.feed.root,
            install=shop.install_dir, data=shop.data_dir, state=shop.service.state.root,
        )  # fmt: skip
        assert UpdaterService(load_config(config)).update("tpv").outcome == "updated"
        assert 200 in {entry.status for entry in nginx.requests(at_least=3)}


def test_download_progress_reports_bytes_total_and_rate(shop: Shop) -> None:
    seen: list[tuple[int, int | None, float | None]] = []

    class Downloads(NullObserver):
        def progress(
            self, product: str, step: Step, done: int, total: int | None, rate: float | None = None
        ) -> None:
            if step == Step.DOWNLOAD:
                seen.append((done, total, rate))

    shop.publish("1.0.1")
    UpdaterService(shop.service.config, Downloads()).update("tpv")
    assert seen and seen[-1][0] == seen[-1][1]
    assert all(rate is not None and rate >= 0 for _done, _total, rate in seen)


# --- polling on the schedule (a task that runs every few minutes) ----------------------


def test_poll_checks_only_when_due_and_schedules_the_next_with_jitter(shop: Shop) -> None:
    store = PollStore.in_state_dir(shop.service.state.root)
    now = datetime.now(UTC)
    first = shop.service.poll(now=now, rng=Random(1))  # first run ever: a random delay
    assert not first.due and first.next_check is not None
    assert now < first.next_check <= now + timedelta(minutes=30)
    assert shop.service.history() == []  # nothing was asked of the server
    later = first.next_check + timedelta(seconds=1)
    polled = shop.service.poll(now=later, rng=Random(2))
    assert polled.due and polled.check is not None
    assert timedelta(hours=4.5) <= polled.next_check - later <= timedelta(hours=7.5)
    assert not shop.service.poll(now=later + timedelta(minutes=5)).due
    assert store.load().consecutive_failures == 0


def test_a_staged_offer_is_checked_again_within_the_hour_so_a_halt_reaches_it(
    shop: Shop,
) -> None:
    store = PollStore.in_state_dir(shop.service.state.root)
    # A release whose bucket for this PC (a random machine id) is below 99, so that a
    # rollout below 100 % reaches it: one in a hundred ids puts 1.0.1 in bucket 99.
    machine = shop.service.state.machine_id()
    version = next(
        v for v in ("1.0.1", "1.0.2", "1.0.3") if rollout_bucket(machine, "tpv", Version(v)) < 99
    )
    bucket = rollout_bucket(machine, "tpv", Version(version))
    shop.publish(version, rollout_percent=bucket + 1)  # this PC is in the first stage
    now = datetime.now(UTC)
    store.save(PollState(next_check=now - timedelta(minutes=1)))
    offered = shop.service.poll(now=now, rng=Random(4))
    assert offered.check is not None and offered.check.choices[0].offer is not None
    assert offered.next_check is not None
    assert timedelta(minutes=22.5) <= offered.next_check - now <= timedelta(minutes=37.5)

    shop.feed.repo.set_release("tpv", version, rollout_percent=0)  # the publisher halts it
    shop.feed.repo.publish(shop.feed.keyring)
    later = offered.next_check + timedelta(seconds=1)
    halted = shop.service.poll(now=later, rng=Random(5))
    assert halted.check is not None and halted.check.choices[0].offer is None
    assert halted.next_check is not None
    assert timedelta(hours=4.5) <= halted.next_check - later <= timedelta(hours=7.5)


def test_poll_backs_off_after_a_failure_and_honours_retry_after(shop: Shop) -> None:
    store = PollStore.in_state_dir(shop.service.state.root)
    now = datetime.now(UTC)
    store.save(PollState(next_check=now - timedelta(minutes=1)))
    shop.server.override("metadata/timestamp.json", status=503, headers={"Retry-After": "7200"})
    with pytest.raises(UpdaterError):
        shop.service.poll(now=now, rng=Random(3))
    state = store.load()
    assert state.consecutive_failures == 1
    assert state.next_check is not None and state.next_check - now >= timedelta(hours=2)
