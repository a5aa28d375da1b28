"""What the shop owner decided in the tray: settings, and skip / remind-later choices.

The configuration file (:mod:`updater.machine.config`) is the technician's; these are the
owner's, saved from the tray in ``<state>/owner/preferences.json`` and shared with the CLI:

- settings that override the configuration: check interval, channel, language;
- whether bug-fix updates install by themselves, optionally only outside opening hours
  (feature updates always ask);
- releases the owner skipped (never offered again, except critical ones), reminders
  ("remind me later") and which releases the tray already announced.

Loading never fails: a missing or damaged file gives the defaults (a damaged one is
logged). Saving replaces the file atomically. The rules that use these choices are
pure functions here (:meth:`Preferences.should_notify`, :meth:`Preferences.may_auto_install`)
so that the tray and the tests share them.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from pathlib import Path
from types import MappingProxyType
from typing import Any, Protocol

from packaging.version import InvalidVersion, Version

from updater.errors import ConfigError, StorageError
from updater.fsutil import read_plain_file, write_atomic
from updater.i18n import SUPPORTED, _
from updater.machine.config import MachineConfig

__all__ = [
    "OWNER_DIR",
    "PREFERENCES_FILE",
    "OpeningHours",
    "Preferences",
    "PreferencesStore",
    "Reminder",
    "apply_preferences",
]

log = logging.getLogger(__name__)

PREFERENCES_FILE = "preferences.json"
#: The one folder of the state that the shop owner's account may write (on Windows the
#: rest is for administrators only): the tray saves the owner's choices there. The
#: elevated updater only reads them, as data, checked like everything it reads.
OWNER_DIR = "owner"
#: A preferences file larger than this is not read (a year of skipped releases is ~10 kB).
MAX_PREFERENCES_BYTES = 256 * 1024
_FORMAT = 1
_CHANNEL = re.compile(r"[a-z][a-z0-9_-]{0,63}")
#: The check interval the owner may choose, in hours.
MIN_INTERVAL_HOURS = 1.0
MAX_INTERVAL_HOURS = 24.0 * 7


#: The kind of release that may install by itself (``ReleaseKind.BUGFIX`` in the manifest).
BUGFIX = "bugfix"


class Offered(Protocol):
    """What the rules need of a release (a :class:`updater.feed.manifest.Release`); the
    machine's state knows nothing of the feed, so it names only these fields."""

    @property
    def product(self) -> str: ...
    @property
    def version(self) -> Version: ...
    @property
    def kind(self) -> str: ...


@dataclass(frozen=True)
class OpeningHours:
    """When the shop is open, in local time; ``closes`` before ``opens`` spans midnight."""

    opens: time
    closes: time

    def is_open(self, moment: time) -> bool:
        """Whether the shop is open at ``moment`` (local time)."""
        if self.opens == self.closes:
            return True  # open around the clock: never "outside opening hours"
        if self.opens < self.closes:
            return self.opens <= moment < self.closes
        return moment >= self.opens or moment < self.closes


@dataclass(frozen=True)
class Reminder:
    """ "Remind me later" for one release: not announced again before ``until`` (UTC)."""

    version: str
    until: datetime


@dataclass(frozen=True)
class Preferences:
    """The owner's choices. ``None`` settings follow the configuration file.

    Attributes:
        check_interval_hours: How often to look for updates.
        channel: The release channel to follow.
        language: ``"es"`` or ``"en"``; ``None`` follows the configuration, then the system.
        auto_install_bugfix: Install bug-fix updates without asking.
        opening_hours: With ``auto_install_bugfix``, install only outside these hours;
            ``None``: at any time.
        skipped: Product id -> versions the owner skipped.
        reminders: Product id -> the release to remind about later.
        announced: Product id -> the newest version the tray already announced.
    """

    check_interval_hours: float | None = None
    channel: str | None = None
    language: str | None = None
    auto_install_bugfix: bool = False
    opening_hours: OpeningHours | None = None
    skipped: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: MappingProxyType({}))
    reminders: Mapping[str, Reminder] = field(default_factory=lambda: MappingProxyType({}))
    announced: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        interval = self.check_interval_hours
        if interval is not None and not (
            math.isfinite(interval) and MIN_INTERVAL_HOURS <= interval <= MAX_INTERVAL_HOURS
        ):
            raise ConfigError(
                _("The check interval must be between {low} and {high} hours.").format(
                    low=int(MIN_INTERVAL_HOURS), high=int(MAX_INTERVAL_HOURS)
                )
            )
        if self.channel is not None and not _CHANNEL.fullmatch(self.channel):
            raise ConfigError(
                _("'{value}' is not a valid channel name.").format(value=self.channel),
                hint=_("Use lowercase letters, digits, '-' and '_', starting with a letter."),
            )
        if self.language is not None and self.language not in SUPPORTED:
            raise ConfigError(
                _("The language must be one of: {choices}.").format(choices=", ".join(SUPPORTED))
            )
        for name in ("skipped", "reminders", "announced"):
            object.__setattr__(self, name, MappingProxyType(dict(getattr(self, name))))

    # --- the rules --------------------------------------------------------------------

    def skipped_versions(self, product: str) -> frozenset[Version]:
        """The versions of ``product`` the owner skipped."""
        found = set()
        for text in self.skipped.get(product, ()):
            try:
                found.add(Version(text))
            except InvalidVersion:
                continue
        return frozenset(found)

    def should_notify(self, product: str, version: Version, now: datetime) -> bool:
        """Whether the tray announces ``product`` ``version`` now: not yet announced, and
        no reminder for it still pending."""
        reminder = self.reminders.get(product)
        if reminder is not None and reminder.version == str(version):
            return now >= reminder.until
        return self.announced.get(product) != str(version)

    def may_auto_install(self, release: Offered, local_now: datetime) -> bool:
        """Whether ``release`` installs without asking at ``local_now`` (local time):
        only bug-fix updates, only when the owner turned it on, and only outside the
        opening hours when those are set."""
        if not self.auto_install_bugfix or release.kind != BUGFIX:
            return False
        if str(release.version) in self.skipped.get(release.product, ()):
            return False
        if self.opening_hours is None:
            return True
        return not self.opening_hours.is_open(local_now.time())

    # --- changes (each returns a new object) -------------------------------------------

    def skip(self, product: str, version: Version) -> Preferences:
        versions = tuple(dict.fromkeys((*self.skipped.get(product, ()), str(version))))
        reminders = {k: v for k, v in self.reminders.items() if k != product}
        return dataclasses.replace(
            self, skipped={**self.skipped, product: versions}, reminders=reminders
        )

    def remind_later(self, product: str, version: Version, until: datetime) -> Preferences:
        reminder = Reminder(str(version), until.astimezone(UTC))
        return dataclasses.replace(self, reminders={**self.reminders, product: reminder})

    def mark_announced(self, product: str, version: Version) -> Preferences:
        return dataclasses.replace(self, announced={**self.announced, product: str(version)})

    def with_settings(
        self,
        *,
        check_interval_hours: float | None,
        channel: str | None,
        language: str | None,
        auto_install_bugfix: bool,
        opening_hours: OpeningHours | None,
    ) -> Preferences:
        return dataclasses.replace(
            self,
            check_interval_hours=check_interval_hours,
            channel=channel,
            language=language,
            auto_install_bugfix=auto_install_bugfix,
            opening_hours=opening_hours,
        )

    # --- JSON -----------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        hours = self.opening_hours
        return {
            "version": _FORMAT,
            "check_interval_hours": self.check_interval_hours,
            "channel": self.channel,
            "language": self.language,
            "auto_install_bugfix": self.auto_install_bugfix,
            "opening_hours": None
            if hours is None
            else {"opens": hours.opens.strftime("%H:%M"), "closes": hours.closes.strftime("%H:%M")},
            "skipped": {k: list(v) for k, v in self.skipped.items()},
            "reminders": {
                k: {"version": r.version, "until": r.until.isoformat()}
                for k, r in self.reminders.items()
            },
            "announced": dict(self.announced),
        }

    @classmethod
    def from_json(cls, data: object) -> Preferences:
        """Raises ValueError / TypeError / KeyError / ConfigError on a damaged document."""
        if not isinstance(data, dict) or data.get("version") != _FORMAT:
            raise ValueError("not a preferences document of a known version")
        hours = data.get("opening_hours")
        interval = data.get("check_interval_hours")
        if isinstance(interval, bool) or not isinstance(interval, int | float | None):
            raise TypeError("check_interval_hours")
        return cls(
            check_interval_hours=None if interval is None else float(interval),
            channel=_optional_str(data.get("channel")),
            language=_optional_str(data.get("language")),
            auto_install_bugfix=data.get("auto_install_bugfix") is True,
            opening_hours=None if hours is None else _hours(hours),
            skipped={
                str(k): tuple(str(v) for v in versions)
                for k, versions in dict(data.get("skipped") or {}).items()
            },
            reminders={
                str(k): Reminder(str(r["version"]), _aware(datetime.fromisoformat(r["until"])))
                for k, r in dict(data.get("reminders") or {}).items()
            },
            announced={str(k): str(v) for k, v in dict(data.get("announced") or {}).items()},
        )


class PreferencesStore:
    """Loads and saves :class:`Preferences` in ``<state>/owner/preferences.json``."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def in_state_dir(cls, root: Path) -> PreferencesStore:
        return cls(root / OWNER_DIR / PREFERENCES_FILE)

    def load(self) -> Preferences:
        """The saved preferences; the defaults if there are none or they are damaged.

        Users may write this file, and the elevated updater reads it: only a plain
        file of at most :data:`MAX_PREFERENCES_BYTES` is read (a link, a folder, a
        device or a huge file counts as damaged).
        """
        try:
            raw = read_plain_file(self.path, MAX_PREFERENCES_BYTES)
        except FileNotFoundError:
            return Preferences()
        except (OSError, ValueError) as exc:
            log.warning("Cannot read the preferences %s: %s", self.path, exc)
            return Preferences()
        try:
            return Preferences.from_json(json.loads(raw))
        except (ValueError, TypeError, KeyError, AttributeError, ConfigError) as exc:
            log.warning("Ignoring the damaged preferences %s: %s", self.path, exc)
            return Preferences()

    def save(self, preferences: Preferences) -> None:
        """Replace the file atomically.

        Raises:
            StorageError: it cannot be written.
        """
        payload = json.dumps(preferences.to_json(), indent=2, sort_keys=True) + "\n"
        try:
            write_atomic(self.path, payload.encode("utf-8"))
        except OSError as exc:
            raise StorageError(
                _("Cannot save the settings in {path}: {error}").format(
                    path=self.path, error=exc.strerror or exc
                ),
                hint=_("Check the disk space and the folder's permissions."),
            ) from exc


def apply_preferences(config: MachineConfig, preferences: Preferences) -> MachineConfig:
    """``config`` with the owner's settings in place of the file's. A channel that the
    configuration does not list (``[feed] channels``) is ignored: the owner's file is
    theirs to write, the channels are IT's to choose."""
    feed = config.feed
    if preferences.channel is not None:
        if preferences.channel in feed.channels:
            feed = dataclasses.replace(feed, channel=preferences.channel)
        else:
            log.warning(
                "Ignoring the owner's channel %r: the configuration allows only %s",
                preferences.channel, ", ".join(feed.channels),
            )  # fmt: skip
    return dataclasses.replace(
        config,
        feed=feed,
        check_interval_hours=preferences.check_interval_hours or config.check_interval_hours,
        language=preferences.language or config.language,
    )


def _hours(value: Mapping[str, str]) -> OpeningHours:
    return OpeningHours(time.fromisoformat(value["opens"]), time.fromisoformat(value["closes"]))


def _optional_str(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError("expected a string")
    return value


def _aware(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("a naive time")
    return moment.astimezone(UTC)
