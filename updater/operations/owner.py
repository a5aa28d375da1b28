"""The shop owner's preferences: settings and choices made in the tray.

Reading and saving them (a setting equal to the configuration file's is not kept as an
override) and putting the settings in effect on the context; skipping a version,
"remind me later", and remembering what the owner was told about
(:mod:`updater.machine.preferences` is the file).

May import: the machine, the core and the operations' ``context``.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime

from packaging.version import Version

from updater.errors import ConfigError
from updater.i18n import _
from updater.machine.preferences import Preferences, apply_preferences
from updater.operations.context import OperationContext

__all__ = ["mark_announced", "preferences", "remind_later", "save_preferences", "skip"]


def preferences(ctx: OperationContext) -> Preferences:
    """The owner's settings and choices."""
    return ctx.preferences.load()


def save_preferences(ctx: OperationContext, preferences: Preferences) -> None:
    """Save them and put the settings in effect (see
    :meth:`updater.service.UpdaterService.save_preferences`)."""
    file = ctx.file_config
    if preferences.channel is not None and preferences.channel not in file.feed.channels:
        raise ConfigError(
            _("This PC may not follow the channel '{channel}'.").format(
                channel=preferences.channel
            ),
            hint=_("The channels it may follow are: {channels}.").format(
                channels=", ".join(file.feed.channels)
            ),
        )
    if preferences.channel == file.feed.channel:
        preferences = dataclasses.replace(preferences, channel=None)
    if preferences.check_interval_hours == file.check_interval_hours:
        preferences = dataclasses.replace(preferences, check_interval_hours=None)
    if preferences.language == file.language:
        preferences = dataclasses.replace(preferences, language=None)
    ctx.state.ensure()
    ctx.preferences.save(preferences)
    ctx.config = apply_preferences(ctx.file_config, preferences)


def skip(ctx: OperationContext, product_id: str, version: Version) -> None:
    """Never offer ``version`` of the product again (unless it is critical)."""
    ctx.config.product(product_id)
    save_preferences(ctx, preferences(ctx).skip(product_id, version))


def remind_later(ctx: OperationContext, product_id: str, version: Version, until: datetime) -> None:
    """Do not announce ``version`` again before ``until``."""
    ctx.config.product(product_id)
    save_preferences(ctx, preferences(ctx).remind_later(product_id, version, until))


def mark_announced(ctx: OperationContext, product_id: str, version: Version) -> None:
    """Remember that the person was told about ``version``."""
    save_preferences(ctx, preferences(ctx).mark_announced(product_id, version))
