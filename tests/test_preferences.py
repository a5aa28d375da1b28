"""The owner's settings and choices (skip, remind later, auto-install), and the service
methods the tray uses besides check/update/restore: cached check, activity, report upload."""

from __future__ import annotations

import json
import zipfile
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import pytest
from packaging.version import Version

from tests.enginekit import lock_held_elsewhere
from tests.inbox import Inbox
from tests.shopkit import Shop
from tests.test_choose import product, release
from updater.errors import ConfigError, HTTPStatusError
from updater.machine.config import load_config
from updater.machine.preferences import OpeningHours, Preferences, PreferencesStore
from updater.service import UpdaterService

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def test_opening_hours_in_a_day_and_across_midnight() -> None:
    day = OpeningHours(time(9), time(21))
    assert day.is_open(time(9)) and day.is_open(time(20, 59))
    assert not day.is_open(time(21)) and not day.is_open(time(3))
    night = OpeningHours(time(18), time(2))  # a bar
    assert night.is_open(time(23)) and night.is_open(time(1, 30))
    assert not night.is_open(time(2)) and not night.is_open(time(12))


def test_only_bugfix_updates_install_by_themselves_and_only_outside_opening_hours() -> None:
    p = product(release("1.0.0"), release("1.0.1", kind="bugfix"), release("1.1.0"))
    bugfix, feature = p.releases[1], p.releases[2]
    at_noon = datetime(2026, 11, 25, 12, 0)
    at_night = datetime(2026, 11, 25, 23, 0)
    assert not Preferences().may_auto_install(bugfix, at_night)  # off by default
    on = Preferences(auto_install_bugfix=True)
    assert on.may_auto_install(bugfix, at_noon)
    assert not on.may_auto_install(feature, at_night)  # feature updates always ask
    hours = Preferences(auto_install_bugfix=True, opening_hours=OpeningHours(time(9), time(21)))
    assert not hours.may_auto_install(bugfix, at_noon)
    assert hours.may_auto_install(bugfix, at_night)
    assert not hours.skip("tpv", bugfix.version).may_auto_install(bugfix, at_night)


def test_a_release_is_announced_once_and_again_when_a_reminder_is_due() -> None:
    prefs = Preferences()
    v = Version("1.1.0")
    assert prefs.should_notify("tpv", v, NOW)
    prefs = prefs.mark_announced("tpv", v)
    assert not prefs.should_notify("tpv", v, NOW)
    assert prefs.should_notify("tpv", Version("1.2.0"), NOW)  # a newer one is news
    prefs = prefs.remind_later("tpv", v, NOW + timedelta(hours=4))
    assert not prefs.should_notify("tpv", v, NOW + timedelta(hours=3))
    assert prefs.should_notify("tpv", v, NOW + timedelta(hours=4))


def test_store_round_trips_and_ignores_a_damaged_file(tmp_path: Path) -> None:
    store = PreferencesStore(tmp_path / "preferences.json")
    assert store.load() == Preferences()
    prefs = (
        Preferences(check_interval_hours=12, channel="beta", language="es")
        .with_settings(
            check_interval_hours=12, channel="beta", language="es", auto_install_bugfix=True,
            opening_hours=OpeningHours(time(9, 30), time(20)),
        )
        .skip("tpv", Version("1.1.0"))
        .remind_later("erp", Version("2.1.0"), NOW)
        .mark_announced("tpv", Version("1.1.0"))
    )  # fmt: skip
    store.save(prefs)
    assert store.load() == prefs
    (tmp_path / "preferences.json").write_text('{"version": 1, "channel": 42}')
    assert store.load() == Preferences()
    (tmp_path / "preferences.json").write_text("not json")
    assert store.load() == Preferences()


@pytest.mark.parametrize(
    ("field", "value"),
    [("check_interval_hours", 0.1), ("channel", "Beta Testers"), ("language", "fr")],
)
def test_bad_settings_are_refused(field: str, value: object) -> None:
    with pytest.raises(ConfigError):
        Preferences(**{field: value})  # type: ignore[arg-type]


def test_skipped_release_is_not_offered_but_a_critical_one_is(shop: Shop) -> None:
    shop.publish("1.1.0")
    shop.service.skip("tpv", Version("1.1.0"))
    [choice] = shop.service.check().choices
    assert choice.offer is None
    assert [n.reason for n in choice.not_offered] == ["it was skipped"]
    assert shop.service.update("tpv").outcome == "nothing_to_do"
    shop.publish("1.1.1", critical=True)
    shop.service.skip("tpv", Version("1.1.1"))
    [choice] = shop.service.check().choices
    assert choice.offer is not None and str(choice.offer.version) == "1.1.1"


def allow_beta(shop: Shop) -> None:
    """IT lets this shop's owner choose the beta channel."""
    text = shop.config_path.read_text()
    shop.config_path.write_text(text.replace("[feed]\n", "[feed]\nchannels = ['stable', 'beta']\n"))
    shop.service = UpdaterService(load_config(shop.config_path))


def test_saved_settings_are_in_effect_for_a_new_service_like_the_cli(shop: Shop) -> None:
    allow_beta(shop)
    shop.service.save_preferences(
        Preferences(check_interval_hours=24, channel="beta", language="es")
    )
    assert shop.service.config.feed.channel == "beta"
    fresh = UpdaterService(load_config(shop.config_path))
    assert fresh.config.feed.channel == "beta"
    assert fresh.config.check_interval_hours == 24
    assert fresh.config.language == "es"
    assert fresh.file_config.feed.channel == "stable"  # the file itself is untouched


def test_the_owner_cannot_choose_a_channel_it_did_not_allow(shop: Shop) -> None:
    with pytest.raises(ConfigError, match="may not follow the channel 'beta'"):
        shop.service.save_preferences(Preferences(channel="beta"))
    assert shop.service.preferences().channel is None
    # Written straight into the owner's file (a user may write it): ignored by everyone,
    # the elevated updater included.
    store = PreferencesStore.in_state_dir(shop.service.state.root)
    store.path.parent.mkdir(parents=True, exist_ok=True)
    store.path.write_text('{"version": 1, "channel": "beta"}')
    assert store.load().channel == "beta"
    assert UpdaterService(load_config(shop.config_path)).config.feed.channel == "stable"
    allow_beta(shop)  # once IT lists it, it is the owner's choice
    assert shop.service.config.feed.channel == "beta"


def test_cached_check_works_without_the_network(shop: Shop) -> None:
    assert shop.service.cached_check() is None  # never checked
    shop.publish("1.1.0")
    shop.service.check()
    shop.server.stop()
    cached = shop.service.cached_check()
    assert cached is not None and not cached.offline
    assert str(cached.choices[0].offer.version) == "1.1.0"  # type: ignore[union-attr]


def test_activity_names_another_process_updating(shop: Shop) -> None:
    assert shop.service.activity() is None
    with lock_held_elsewhere(shop.service.state.root) as holder_pid:
        activity = shop.service.activity()
        assert activity is not None
        assert activity.owner.pid == holder_pid
        assert activity.products == ("tpv",)
    assert shop.service.activity() is None


def test_support_bundle_is_built_and_uploaded(
    shop: Shop, tmp_path: Path, inbox: tuple[str, type[Inbox]]
) -> None:
    url, handler = inbox
    text = shop.config_path.read_text()
    shop.config_path.write_text(f"support_url = '{url}'\n" + text)
    service = UpdaterService(load_config(shop.config_path))
    bundle = service.build_report(tmp_path / "bundle.zip")
    assert service.send_report(bundle) == "ticket 1234"
    [(path, headers, body)] = handler.received
    assert path == "/support/upload"
    assert headers["Content-Type"] == "application/zip"
    assert headers["X-Innova-Machine"] == service.state.machine_id()
    assert body == bundle.read_bytes() and body.startswith(b"PK")
    handler.status = 503
    with pytest.raises(HTTPStatusError, match="503"):
        service.send_report(bundle)


def test_without_a_support_address_sending_is_a_clear_error(shop: Shop, tmp_path: Path) -> None:
    bundle = shop.service.build_report(tmp_path / "bundle.zip")
    with zipfile.ZipFile(bundle) as bundle_zip:
        assert isinstance(json.loads(bundle_zip.read("history.json")), list)
    with pytest.raises(ConfigError, match="support address"):
        shop.service.send_report(bundle)


def test_a_setting_equal_to_the_configuration_file_is_not_saved_as_an_override(
    shop: Shop,
) -> None:
    shop.service.save_preferences(
        Preferences(check_interval_hours=6, channel="stable", language=None)
    )
    saved = shop.service.preferences()
    assert saved.check_interval_hours is None and saved.channel is None
    shop.service.save_preferences(Preferences(check_interval_hours=12, channel="stable"))
    assert shop.service.preferences().check_interval_hours == 12
