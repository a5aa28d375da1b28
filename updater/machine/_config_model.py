"""What a machine configuration is: the frozen dataclasses that describe one PC.

:class:`MachineConfig` (the whole file) holds a :class:`FeedConfig`, a :class:`Retention`
and one :class:`ProductConfig` per product (with its :class:`VersionSource`,
:class:`HealthCheck`, :class:`Prestashop` and :class:`Hooks`); :func:`default_state_dir`
is the state folder of a file that names none. Nothing here reads or checks a file:
:mod:`updater.machine._config_tables` builds these objects. Import them from
:mod:`updater.machine.config`, which re-exports them.

May import: the core (errors, i18n) and :mod:`platformdirs`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, TypeAlias

import platformdirs

from updater.errors import ConfigError
from updater.i18n import _

__all__ = [
    "APP_NAME",
    "INSTALL_DIR_PLACEHOLDER",
    "Command",
    "FeedConfig",
    "HealthCheck",
    "Hooks",
    "MachineConfig",
    "Prestashop",
    "ProductConfig",
    "Retention",
    "VersionKind",
    "VersionSource",
    "default_state_dir",
]

#: Application name for :mod:`platformdirs` (the folder names derive from it).
APP_NAME = "InnovaCommerce Updater"
#: The placeholder :meth:`ProductConfig.expand` replaces in command arguments.
INSTALL_DIR_PLACEHOLDER = "{install_dir}"

#: A command line: the program, then its arguments, never passed through a shell.
Command: TypeAlias = tuple[str, ...]
#: Where a product's installed version is read from.
VersionKind: TypeAlias = Literal["file", "registry", "file_version"]


@dataclass(frozen=True, kw_only=True)
class FeedConfig:
    """Where the release feed is and what this PC trusts about it.

    Attributes:
        url: The feed's base URL, normalised by :func:`updater.locations.feed_url`
            (``http(s)://`` or ``file:``, ending with ``/``).
        mirrors: Other base URLs of the same feed, tried in order when ``url`` cannot
            be reached; normalised the same way.
        root: The trusted ``root.json`` (the feed's first root of trust); it existed
            and was readable when the configuration was loaded.
        channel: The release channel this PC follows (``stable``, ``beta``, …).
        channels: The channels the shop owner may choose from in the tray; ``channel``
            is always one of them. Only this list, never what a user's file says, can
            move the PC (and its SYSTEM task) to another channel.
        ca_bundle: Certificate authorities to trust for HTTPS instead of the usual
            ones (for feeds behind a private CA); ``None`` for the usual ones.
    """

    url: str
    mirrors: tuple[str, ...] = ()
    root: Path
    channel: str = "stable"
    ca_bundle: Path | None = None
    channels: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.channel not in self.channels:
            object.__setattr__(self, "channels", (self.channel, *self.channels))

    @property
    def urls(self) -> tuple[str, ...]:
        """``url`` and then the mirrors: every address of the feed, in the order to try."""
        return (self.url, *self.mirrors)


@dataclass(frozen=True, kw_only=True)
class VersionSource:
    """Where the installed version of a product is read from.

    Attributes:
        kind: ``"file"``: a text file inside the install folder holding the version;
            ``"registry"``: the ``DisplayVersion`` of a Windows uninstall key;
            ``"file_version"``: the version resource of a Windows executable.
        file: For ``kind="file"``: the file, relative to the install folder.
        registry_key: For ``kind="registry"``: the name of the uninstall key (the
            part after ``...\\CurrentVersion\\Uninstall\\``).
        executable: For ``kind="file_version"``: the executable, relative to the
            install folder. :func:`parse_config` fills in the product's executable
            when the configuration does not name another one.
    """

    kind: VersionKind = "file"
    file: str = "VERSION"
    registry_key: str | None = None
    executable: str | None = None


@dataclass(frozen=True, kw_only=True)
class HealthCheck:
    """How to tell whether a freshly installed version works.

    Attributes:
        command: The command to run (raw, see :meth:`ProductConfig.expand`); exit code
            0 within ``timeout`` means healthy. ``None``: no health check is run.
        timeout: Seconds the command may run before it counts as failed.
    """

    command: Command | None = None
    timeout: float = 60.0


@dataclass(frozen=True, kw_only=True)
class Hooks:
    """Commands run at fixed points of an update (raw, see :meth:`ProductConfig.expand`).

    Attributes:
        pre_snapshot: Before anything changes (before the snapshot is taken); if it
            fails the update stops with nothing changed.
        post_swap: After the new version is in place, before the health check.
        post_restore: After a snapshot was restored (a rollback).
        timeout: Seconds each hook may run before it counts as failed.
    """

    pre_snapshot: Command | None = None
    post_swap: Command | None = None
    post_restore: Command | None = None
    timeout: float = 300.0


@dataclass(frozen=True, kw_only=True)
class Prestashop:
    """The PrestaShop version a product works with, for the manifest's compatibility rules.

    Exactly one of ``version`` and ``command`` is set.

    Attributes:
        version: The version, as configured (it parses as a
            :class:`packaging.version.Version`).
        command: A command that prints the version (raw, see
            :meth:`ProductConfig.expand`).
        timeout: Seconds ``command`` may run.
    """

    version: str | None = None
    command: Command | None = None
    timeout: float = 30.0


@dataclass(frozen=True, kw_only=True)
class ProductConfig:
    """One product installed on this PC.

    Attributes:
        id: The product id, as in the feed's manifest (``tpv``, ``erp``).
        name: The name shown to people.
        install_dir: The install folder (absolute); it is replaced by each update.
        executable: The program, relative to ``install_dir`` (``tpv.exe``).
        version: Where the installed version is read from.
        health_check: How to tell whether a new version works.
        data_paths: Files and folders outside ``install_dir`` (absolute) that are
            copied into each snapshot and restored on rollback. None is inside or
            contains ``install_dir``, and none overlaps another.
        prestashop: The PrestaShop version source, or ``None`` if the product does not
            depend on PrestaShop.
        hooks: Commands run during an update.
    """

    id: str
    name: str
    install_dir: Path
    executable: str
    version: VersionSource = field(default_factory=VersionSource)
    health_check: HealthCheck = field(default_factory=HealthCheck)
    data_paths: tuple[Path, ...] = ()
    prestashop: Prestashop | None = None
    hooks: Hooks = field(default_factory=Hooks)

    @property
    def executable_path(self) -> Path:
        """The absolute path of the product's program."""
        return self.install_dir / self.executable

    def expand(self, argv: Sequence[str]) -> list[str]:
        """``argv`` with every ``{install_dir}`` replaced by this product's install folder.

        Nothing else is interpreted: there is no shell, no other placeholder and no
        environment variable expansion.
        """
        install_dir = str(self.install_dir)
        return [arg.replace(INSTALL_DIR_PLACEHOLDER, install_dir) for arg in argv]


@dataclass(frozen=True, kw_only=True)
class Retention:
    """How many snapshots (previous versions) are kept per product.

    Attributes:
        keep: Snapshots kept per product, at least 1 (so that one rollback is
            always possible).
        max_disk_mb: Upper bound, in megabytes, on the disk space of all snapshots;
            the oldest go first, but never below one per product. ``None``: no bound.
    """

    keep: int = 2
    max_disk_mb: int | None = None


@dataclass(frozen=True, kw_only=True)
class MachineConfig:
    """The whole configuration of one PC.

    Attributes:
        source: The file it was read from (``None`` when parsed from text only).
        state_dir: The updater's own folder (trusted metadata, downloads, snapshots,
            journal, history); absolute.
        feed: The release feed.
        products: The products to update, by id, in the order of the file (at least
            one; read-only).
        retention: How many snapshots are kept.
        check_interval_hours: How often the tray looks for updates.
        language: ``"es"`` or ``"en"`` to force the language of messages; ``None``
            to follow the environment.
        support_url: Where the tray's *Report a problem* uploads the support bundle
            (an ``http(s)`` address that accepts a POST); ``None``: the bundle is saved
            and its folder opened instead.
        support_contact: How a shop reaches support (an e-mail address, a phone number),
            shown by *Report a problem* with the saved bundle; ``None``: not known.
    """

    source: Path | None
    state_dir: Path
    feed: FeedConfig
    products: Mapping[str, ProductConfig] = field(hash=False)
    retention: Retention = field(default_factory=Retention)
    check_interval_hours: float = 6.0
    language: str | None = None
    support_url: str | None = None
    support_contact: str | None = None

    def product(self, product_id: str) -> ProductConfig:
        """The product ``product_id``.

        Raises:
            ConfigError: this PC's configuration has no such product.
        """
        try:
            return self.products[product_id]
        except KeyError:
            raise ConfigError(
                _("The product {product} is not configured on this PC.").format(product=product_id),
                hint=_("The configured products are: {products}.").format(
                    products=", ".join(self.products)
                ),
            ) from None


def default_state_dir() -> Path:
    """The state folder used when the configuration sets none.

    ``C:\\ProgramData\\InnovaCommerce Updater`` on Windows (from
    :func:`platformdirs.site_data_dir`).
    """
    return Path(platformdirs.site_data_dir(APP_NAME, appauthor=False))
