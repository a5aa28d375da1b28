"""A standard user of the shop's PC against the elevated updater (docs/security.md,
"Local attacker"): each test performs one attack as such a user would, through the
same hand-over the tray uses, and shows it refused with nothing changed.

The attacks on the hand-over itself (a squatter on the channel, floods, oversized or
malformed requests, a silent requester) are in tests/test_elevation.py."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.elevating import ElevatingPlatform
from tests.enginekit import tree
from tests.links import symlink
from tests.shopkit import Shop
from updater.config import load_config
from updater.errors import PreflightError
from updater.preferences import MAX_PREFERENCES_BYTES, Preferences, PreferencesStore
from updater.service import UpdaterService


def as_user(shop: Shop, platform: ElevatingPlatform) -> UpdaterService:
    """The shop's updater as a standard user runs it (the tray, or the CLI)."""
    return UpdaterService(load_config(shop.config_path), platform=platform)


def installed(shop: Shop) -> str:
    return (shop.install_dir / "VERSION").read_text().strip()


def test_a_user_cannot_downgrade_a_product(shop: Shop, elevating: ElevatingPlatform) -> None:
    shop.publish("1.0.1")
    shop.service.update("tpv")
    before = tree(shop.install_dir)
    with pytest.raises(PreflightError, match=r"not newer than the installed version 1\.0\.1"):
        as_user(shop, elevating).update("tpv", to_version="1.0.0")
    assert tree(shop.install_dir) == before
    # An administrator may (the CLI's --to-version, run elevated).
    shop.service.update("tpv", to_version="1.0.0")
    assert installed(shop) == "1.0.0"


def test_a_user_cannot_jump_the_staged_rollout(shop: Shop, elevating: ElevatingPlatform) -> None:
    shop.publish("1.0.1", rollout_percent=0)  # held back: 0 % of the PCs
    before = tree(shop.install_dir)
    with pytest.raises(PreflightError, match="released gradually"):
        as_user(shop, elevating).update("tpv", to_version="1.0.1")
    assert tree(shop.install_dir) == before
    shop.service.update("tpv", to_version="1.0.1")  # an administrator may
    assert installed(shop) == "1.0.1"


def test_a_withdrawn_release_is_installed_by_no_one(
    shop: Shop, elevating: ElevatingPlatform
) -> None:
    shop.publish("1.0.1")
    shop.feed.repo.set_release("tpv", "1.0.1", withdrawn=True)
    shop.feed.repo.publish(shop.feed.keyring)
    before = tree(shop.install_dir)
    found = shop.service.check()
    assert found.choices[0].offer is None
    assert [n.reason for n in found.choices[0].not_offered] == ["the publisher withdrew it"]
    with pytest.raises(PreflightError, match="the publisher withdrew it"):
        as_user(shop, elevating).update("tpv", to_version="1.0.1")
    with pytest.raises(PreflightError, match="the publisher withdrew it"):
        shop.service.update("tpv", to_version="1.0.1")  # nor by an administrator
    assert tree(shop.install_dir) == before


def test_no_one_restores_a_version_below_the_signed_minimum(
    shop: Shop, elevating: ElevatingPlatform
) -> None:
    shop.publish("1.0.1")
    shop.service.update("tpv")  # keeps a saved copy of 1.0.0
    shop.feed.repo.set_minimum("tpv", "1.0.1")  # 1.0.0 has a flaw
    shop.feed.repo.publish(shop.feed.keyring)
    shop.service.check()
    before = tree(shop.install_dir)
    for service in (as_user(shop, elevating), shop.service):
        with pytest.raises(PreflightError, match=r"no longer allows versions older than 1\.0\.1"):
            service.restore("tpv")
    assert tree(shop.install_dir) == before and installed(shop) == "1.0.1"


# ------------------------------------------------ the owner's file, read by SYSTEM


def planted(shop: Shop) -> Path:
    """Where users may write: the owner's preferences file (made by setup)."""
    path = PreferencesStore.in_state_dir(shop.service.state.root).path
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def reads_defaults(shop: Shop) -> bool:
    """What a fresh service (the elevated updater's, say) takes from the file."""
    return PreferencesStore.in_state_dir(shop.service.state.root).load() == Preferences()


def test_the_owners_file_read_through_a_link_is_ignored(shop: Shop, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere.json"
    elsewhere.write_text('{"version": 1, "check_interval_hours": 2}')
    symlink(planted(shop), elsewhere)
    assert reads_defaults(shop)


def test_the_owners_file_as_a_second_name_of_another_file_is_ignored(
    shop: Shop, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere.json"
    elsewhere.write_text('{"version": 1, "check_interval_hours": 2}')
    try:
        os.link(elsewhere, planted(shop))
    except OSError:
        pytest.skip("this file system makes no hard links")
    assert reads_defaults(shop)


def test_a_huge_owners_file_is_not_read(shop: Shop) -> None:
    padding = " " * (MAX_PREFERENCES_BYTES + 10)
    planted(shop).write_text('{"version": 1, "check_interval_hours": 2' + padding + "}")
    assert reads_defaults(shop)
    planted(shop).write_text('{"version": 1, "check_interval_hours": 2}')
    assert not reads_defaults(shop)  # the same settings, small enough, are read


def test_a_folder_or_a_pipe_in_place_of_the_owners_file_is_ignored(shop: Shop) -> None:
    path = planted(shop)
    path.mkdir()
    assert reads_defaults(shop)
    path.rmdir()
    if hasattr(os, "mkfifo"):  # POSIX: reading a FIFO with no writer would hang
        os.mkfifo(path)
        assert reads_defaults(shop)
