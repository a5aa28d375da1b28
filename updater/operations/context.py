"""What every operation runs in: one machine's configuration, observer, platform and state.

:class:`OperationContext` holds the configuration file's settings and those in effect
(the owner's preferences applied), the observer, the platform, the network limits and
the HTTP session, the state folder, the user a request runs for and the updater's own
version. Its :meth:`~OperationContext.locked` is how an operation starts: the state
folder's lock, recovery of an interrupted update first, and the history it records
itself in. The small version and size helpers the operations share are here too.

May import: the feed side (the HTTP session and limits), the install side (recovery and
the installed version), the machine, the platform and the core.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

from packaging.version import InvalidVersion, Version

from updater import __version__
from updater.errors import ConfigError
from updater.feed.limits import NetworkLimits
from updater.i18n import _
from updater.install.health import read_installed_version
from updater.install.transaction import Entry, Recovered, recover
from updater.machine.config import MachineConfig, ProductConfig
from updater.machine.history import History, Operation, Outcome
from updater.machine.preferences import PreferencesStore, apply_preferences
from updater.machine.state import StateDir
from updater.observer import NullObserver, Observer
from updater.platform import current as current_platform
from updater.platform.base import Platform

if TYPE_CHECKING:
    import requests

__all__ = [
    "ELEVATED_START_TIMEOUT",
    "OperationContext",
    "maybe_version",
    "megabytes",
    "parse_version",
]

#: How long a handed-over request may wait for the elevated updater to pick it up
#: (it waits behind an update in progress, which then reports its own progress).
ELEVATED_START_TIMEOUT = 120.0


class OperationContext:
    """One machine's updater as the operations see it (the facade holds one)."""

    def __init__(
        self,
        config: MachineConfig,
        observer: Observer | None = None,
        *,
        platform: Platform = current_platform,
        limits: NetworkLimits | None = None,
        session: requests.Session | None = None,
        on_behalf_of: str | None = None,
    ) -> None:
        self.file_config = config
        #: The standard user whose request this (elevated) service runs, who gets no
        #: more than that user could get from the tray: no downgrade, no release held
        #: back by the rollout, nothing run that the configuration names for the
        #: PrestaShop version. None: the caller acts with its own rights.
        self.on_behalf_of = on_behalf_of
        self.observer: Observer = observer or NullObserver()
        self.platform = platform
        self.limits = limits or NetworkLimits()
        self.state = StateDir(config.state_dir)
        #: Seconds the elevated updater has to start working on a handed-over request.
        self.elevated_start_timeout = ELEVATED_START_TIMEOUT
        #: The owner's settings and choices (:mod:`updater.machine.preferences`).
        self.preferences = PreferencesStore.in_state_dir(self.state.root)
        #: The configuration in effect: the file's, with the owner's settings applied.
        self.config = apply_preferences(config, self.preferences.load())
        self._session = session
        self.updater_version = _own_version()

    @property
    def session(self) -> requests.Session:
        if self._session is None:
            from updater.feed.fetch import make_session  # requests: only when needed

            ca = str(self.config.feed.ca_bundle) if self.config.feed.ca_bundle else None
            self._session = make_session(ca_bundle=ca, user_agent=self.limits.user_agent)
        return self._session

    def for_requester(self, user: str, observer: Observer, platform: Platform) -> OperationContext:
        """The context a request of ``user`` runs in on the elevated side: this one's
        configuration file, limits and HTTP session, with ``observer`` and ``platform``."""
        return OperationContext(
            self.file_config, observer, platform=platform, limits=self.limits,
            session=self._session, on_behalf_of=user,
        )  # fmt: skip

    @contextlib.contextmanager
    def locked(self) -> Iterator[History]:
        """The state folder's lock, after recovery, and the history to record in.

        Raises:
            BusyError: another update is in progress.
        """
        self.state.ensure()
        with self.state.lock(), History(self.state.history_db) as history:
            self._recover(history)
            yield history

    def recover(self) -> list[Recovered]:
        """Take the lock and finish or undo any interrupted update (see the facade's
        :meth:`~updater.service.UpdaterService.recover`)."""
        self.state.ensure()
        with self.state.lock(), History(self.state.history_db) as history:
            return self._recover(history)

    def _recover(self, history: History) -> list[Recovered]:
        history.mark_interrupted()
        results = recover(self.state.journal_dir, self.observer, self.platform)
        for result in results:
            outcome = {
                Entry.COMMITTED: Outcome.SUCCESS,
                Entry.ROLLED_BACK: Outcome.ROLLED_BACK,
                Entry.ABORTED: Outcome.CANCELLED,
            }[result.outcome]
            history.record(
                Operation.RECOVERY,
                outcome,
                product=result.product,
                from_version=result.from_version,
                to_version=result.to_version,
                message=_("An interrupted update was finished or undone."),
            )
        return results

    def installed_version(self, product: ProductConfig) -> Version | None:
        """The version installed now (None when the product is not installed)."""
        return read_installed_version(
            product.install_dir, product.version, product.executable, self.platform
        )


# ------------------------------------------------------------------------ helpers


def maybe_version(text: object) -> Version | None:
    """``text`` as a version, or None when it is empty or not one."""
    try:
        return Version(str(text)) if text else None
    except InvalidVersion:
        return None


def parse_version(text: str) -> Version:
    """``text`` as a version.

    Raises:
        ConfigError: it is not one.
    """
    try:
        return Version(text)
    except InvalidVersion as exc:
        raise ConfigError(_("'{value}' is not a valid version number.").format(value=text)) from exc


def megabytes(value: int | None) -> int | None:
    """A size in MB (or None: no limit) in bytes."""
    return None if value is None else value * 1024 * 1024


def _own_version() -> Version:
    try:
        return Version(__version__)
    except InvalidVersion:
        return Version("0")
