"""The machine configuration: which feed a PC trusts and which products it updates.

Each PC has one TOML file (``config.toml``), written by the updater's installer or by a
technician; ``docs/configuration.md`` describes every key and
``docs/config.example.toml`` is a complete, commented example. This module finds the
file (:func:`resolve_config_path`), reads it (:func:`load_config`) and turns it into
frozen dataclasses (:func:`parse_config`).

Validation is strict, because a mistake here is found otherwise only in the middle of
an update: unknown keys are errors (a typo such as ``instal_dir`` must not silently
leave a default in place), every value has its type and range checked, relative paths
are resolved against the folder of the file, and folders the updater replaces
(install folders) are checked not to overlap the folders it keeps or restores (data
paths, the state folder). Every problem is a :class:`~updater.errors.ConfigError` that
names the file, the TOML key (``products.tpv.health_check``) and what is wrong; no
``KeyError`` or ``TypeError`` escapes.

Command lines (health check, hooks, PrestaShop version command) are kept as written;
:meth:`ProductConfig.expand` replaces ``{install_dir}`` in them when they are run.
"""

from __future__ import annotations

import difflib
import math
import os
import re
import tomllib
import urllib.parse
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath
from types import MappingProxyType
from typing import Any, Literal, TypeAlias

import platformdirs
from packaging.version import InvalidVersion, Version

from updater.errors import ConfigError
from updater.i18n import SUPPORTED, _
from updater.locations import feed_url

__all__ = [
    "APP_NAME",
    "CONFIG_ENV",
    "CONFIG_FILENAME",
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
    "default_config_path",
    "default_state_dir",
    "load_config",
    "parse_config",
    "resolve_config_path",
]

#: Application name for :mod:`platformdirs` (the folder names derive from it).
APP_NAME = "InnovaCommerce Updater"
#: Environment variable naming the configuration file when ``--config`` is not given.
CONFIG_ENV = "INNOVA_UPDATER_CONFIG"
#: Name of the configuration file inside the default configuration folder.
CONFIG_FILENAME = "config.toml"
#: The placeholder :meth:`ProductConfig.expand` replaces in command arguments.
INSTALL_DIR_PLACEHOLDER = "{install_dir}"

#: A command line: the program, then its arguments, never passed through a shell.
Command: TypeAlias = tuple[str, ...]
#: Where a product's installed version is read from.
VersionKind: TypeAlias = Literal["file", "registry", "file_version"]

# The same rule as product ids and channels in the release manifest (updater.feed.manifest).
_ID = re.compile(r"[a-z][a-z0-9_-]{0,63}")
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_VERSION_KINDS: tuple[VersionKind, ...] = ("file", "registry", "file_version")

_TOP_KEYS = (
    "state_dir",
    "check_interval_hours",
    "language",
    "support_url",
    "feed",
    "retention",
    "products",
)
_FEED_KEYS = ("url", "mirrors", "root", "channel", "channels", "ca_bundle")
_RETENTION_KEYS = ("keep", "max_disk_mb")
_PRODUCT_KEYS = (
    "name",
    "install_dir",
    "executable",
    "version_from",
    "version_file",
    "registry_key",
    "version_executable",
    "data_paths",
    "prestashop_version",
    "prestashop_command",
    "prestashop_timeout",
    "health_check",
    "health_timeout",
    "hooks",
)
_HOOK_KEYS = ("pre_snapshot", "post_swap", "post_restore", "timeout")
# Which product keys belong to which version_from kind.
_VERSION_KEYS: dict[str, VersionKind] = {
    "version_file": "file",
    "registry_key": "registry",
    "version_executable": "file_version",
}


# --- the model ----------------------------------------------------------------------------


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
    """

    source: Path | None
    state_dir: Path
    feed: FeedConfig
    products: Mapping[str, ProductConfig] = field(hash=False)
    retention: Retention = field(default_factory=Retention)
    check_interval_hours: float = 6.0
    language: str | None = None
    support_url: str | None = None

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


# --- where the file is --------------------------------------------------------------------


def default_config_path() -> Path:
    """The configuration file used when neither ``--config`` nor the environment name one.

    ``C:\\ProgramData\\InnovaCommerce Updater\\config.toml`` on Windows (from
    :func:`platformdirs.site_config_dir`).
    """
    return Path(platformdirs.site_config_dir(APP_NAME, appauthor=False)) / CONFIG_FILENAME


def default_state_dir() -> Path:
    """The state folder used when the configuration sets none.

    ``C:\\ProgramData\\InnovaCommerce Updater`` on Windows (from
    :func:`platformdirs.site_data_dir`).
    """
    return Path(platformdirs.site_data_dir(APP_NAME, appauthor=False))


def resolve_config_path(flag: str | None, environ: Mapping[str, str] = os.environ) -> Path:
    """Which configuration file to read: ``--config``, else ``$INNOVA_UPDATER_CONFIG``,
    else :func:`default_config_path`.

    An empty environment variable counts as unset; an empty ``--config`` is an error.
    A relative path is taken relative to the current folder and returned absolute.

    Raises:
        ConfigError: ``flag`` is an empty string.
    """
    if flag is not None:
        if not flag.strip():
            raise ConfigError(
                _("The option --config was given an empty file name."),
                hint=_("Give the path of the configuration file, or leave the option out."),
            )
        chosen = flag
    else:
        chosen = environ.get(CONFIG_ENV, "")
        if not chosen.strip():
            return default_config_path()
    try:
        return Path(chosen).expanduser().absolute()
    except RuntimeError as exc:  # "~" without a home folder
        raise ConfigError(
            _("The configuration file {file} cannot be found: {error}").format(
                file=chosen, error=exc
            )
        ) from exc


# --- reading ------------------------------------------------------------------------------


def load_config(path: Path) -> MachineConfig:
    """Read and validate the configuration file ``path``.

    The file is UTF-8 (a byte order mark, as some Windows editors write, is accepted).
    Relative paths inside it are resolved against its folder.

    Raises:
        ConfigError: the file is missing, unreadable, not TOML, or not valid.
    """
    path = path.absolute()
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            _("The configuration file {file} does not exist.").format(file=path),
            hint=_(
                "Reinstall the updater, or name the file with --config or the "
                "{env} environment variable."
            ).format(env=CONFIG_ENV),
        ) from None
    except IsADirectoryError:
        raise ConfigError(
            _("The configuration file {file} is a folder, not a file.").format(file=path)
        ) from None
    except OSError as exc:
        raise ConfigError(
            _("The configuration file {file} cannot be read: {error}").format(
                file=path, error=exc.strerror or exc
            ),
            hint=_("Check the file's permissions; the updater needs to read it."),
        ) from exc
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            _("The configuration file {file} is not UTF-8 text: {error}").format(
                file=path, error=exc
            ),
            hint=_("Save the file with the UTF-8 encoding."),
        ) from exc
    return parse_config(text, base_dir=path.parent, source=path)


def parse_config(text: str, *, base_dir: Path, source: Path | None) -> MachineConfig:
    """Validate the TOML ``text`` of a configuration and build the :class:`MachineConfig`.

    Args:
        text: The TOML document.
        base_dir: The folder relative paths are resolved against (the file's folder).
        source: The file ``text`` came from, named in error messages and kept in
            :attr:`MachineConfig.source`; ``None`` when there is no file.

    Raises:
        ConfigError: the text is not TOML or a key is missing, unknown or invalid.
    """
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        if source is not None:
            message = _("The configuration file {file} is not valid TOML: {error}").format(
                file=source, error=exc
            )
        else:
            message = _("The configuration is not valid TOML: {error}").format(error=exc)
        raise ConfigError(
            message,
            hint=_(
                "Check the line shown. Inside double quotes a backslash starts an escape "
                "sequence: write Windows paths between single quotes, as in "
                "'C:\\Program Files\\InnovaCommerce\\TPV'."
            ),
        ) from exc
    return _Reader(source=source, base_dir=Path(os.path.normpath(base_dir.absolute()))).config(
        document
    )


# --- validation ---------------------------------------------------------------------------


def _key(prefix: str, *parts: str | int) -> str:
    """A TOML key path for messages: ``prefix`` (a key path already written, ``""`` at the
    top) followed by ``parts``: ``products.tpv.data_paths[0]``, ``products."a b"``."""
    text = prefix
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
            continue
        if not _BARE_KEY.fullmatch(part):
            escaped = part.encode("unicode_escape").decode("ascii").replace('"', '\\"')
            part = f'"{escaped}"'
        text = f"{text}.{part}" if text else part
    return text


def _found(value: object) -> str:
    """What kind of TOML value ``value`` is, for "expected X, found Y" messages."""
    if isinstance(value, bool):
        return _("true/false")
    if isinstance(value, int | float):
        return _("a number ({value})").format(value=value)
    if isinstance(value, str):
        return _("a string")
    if isinstance(value, list):
        return _("a list")
    if isinstance(value, dict):
        return _("a table")
    return _("a date or time")


def _has_control(text: str) -> bool:
    return any(ord(char) < 32 or ord(char) == 127 for char in text)


def _comparable(path: Path) -> tuple[str, ...]:
    """The parts of ``path`` as the file system compares them (case-folded on Windows)."""
    return Path(os.path.normcase(path)).parts


def _real(path: Path) -> Path:
    """``path`` with symbolic links resolved, as far as possible."""
    try:
        return path.resolve()
    except (OSError, RuntimeError):
        return path


def _overlap(first: Path, second: Path) -> Literal["same", "inside", "contains"] | None:
    """How ``first`` relates to ``second``: the same, inside it, containing it, or not.

    Compared both as written and with symbolic links resolved.
    """
    for a, b in ((first, second), (_real(first), _real(second))):
        pa, pb = _comparable(a), _comparable(b)
        if pa == pb:
            return "same"
        if pa[: len(pb)] == pb:
            return "inside"
        if pb[: len(pa)] == pa:
            return "contains"
    return None


class _Reader:
    """Walks the TOML document; knows the file and base folder for messages and paths."""

    def __init__(self, *, source: Path | None, base_dir: Path) -> None:
        self.source = source
        self.base_dir = base_dir

    # -- errors ------------------------------------------------------------------------------

    def bad(self, key: str, problem: str, hint: str | None = None) -> ConfigError:
        if self.source is not None:
            message = _("Error in the configuration file {file}, at {key}: {problem}").format(
                file=self.source, key=key, problem=problem
            )
        else:
            message = _("Error in the configuration, at {key}: {problem}").format(
                key=key, problem=problem
            )
        return ConfigError(message, hint=hint)

    def wrong_type(
        self, key: str, expected: str, value: object, *, text_expected: bool = False
    ) -> ConfigError:
        hint = None
        if text_expected and isinstance(value, int | float) and not isinstance(value, bool):
            hint = _('Write text between quotes, as in version = "8.1".')
        return self.bad(
            key,
            _("expected {expected}, found {found}.").format(expected=expected, found=_found(value)),
            hint,
        )

    def missing(self, key: str) -> ConfigError:
        return self.bad(key, _("this key is required but missing."))

    # -- tables and scalars --------------------------------------------------------------

    def table(self, value: object, key: str, allowed: Iterable[str]) -> dict[str, Any]:
        """``value`` as a table with only ``allowed`` keys."""
        if not isinstance(value, dict):
            raise self.wrong_type(key, _("a table"), value)
        allowed = tuple(allowed)
        for name in value:
            if name in allowed:
                continue
            where = _key(key, name)
            close = difflib.get_close_matches(name, allowed, n=1)
            if close:
                problem = _("unknown key; did you mean {suggestion}?").format(suggestion=close[0])
            else:
                problem = _("unknown key; the keys allowed here are: {allowed}.").format(
                    allowed=", ".join(allowed)
                )
            raise self.bad(where, problem)
        return value

    def string(self, value: object, key: str) -> str:
        if not isinstance(value, str):
            raise self.wrong_type(key, _("a string"), value, text_expected=True)
        if not value.strip():
            raise self.bad(key, _("must not be empty."))
        if _has_control(value):
            raise self.bad(
                key,
                _("contains a control character (such as a tab or a line break)."),
                hint=self.backslash_hint(),
            )
        return value

    def backslash_hint(self) -> str:
        return _(
            "Inside double quotes a backslash starts an escape sequence (\\t is a tab): "
            "write Windows paths between single quotes, as in "
            "'C:\\Program Files\\InnovaCommerce\\TPV'."
        )

    def positive(self, value: object, key: str) -> float:
        """A number of seconds or hours: finite and greater than 0."""
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.wrong_type(key, _("a number"), value)
        number = float(value)
        if not math.isfinite(number) or number <= 0:
            raise self.bad(
                key, _("must be a number greater than 0, not {value}.").format(value=value)
            )
        return number

    def whole(self, value: object, key: str, minimum: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.wrong_type(key, _("a whole number"), value)
        if value < minimum:
            raise self.bad(
                key,
                _("must be at least {minimum}, not {value}.").format(minimum=minimum, value=value),
            )
        return value

    def identifier(self, value: str, key: str, problem: str) -> str:
        """``value`` if it is a valid id (product id, channel); ``problem`` names it otherwise."""
        if not _ID.fullmatch(value):
            raise self.bad(
                key,
                problem.format(value=value),
                hint=_(
                    "Use lowercase letters, digits, '-' and '_', starting with a letter, "
                    "at most 64 characters."
                ),
            )
        return value

    # -- paths and commands ------------------------------------------------------------------

    def path(self, value: object, key: str) -> Path:
        """An absolute, normalised path; relative ones are taken from the file's folder."""
        text = self.string(value, key)
        path = Path(text)
        if (path.drive and not path.root) or (os.name == "nt" and path.root and not path.drive):
            # "C:data" or "\data" on Windows: relative to a per-drive current folder.
            raise self.bad(
                key,
                _(
                    "{path} is not a complete path; write it with its drive, as in {example}."
                ).format(path=text, example="C:\\ProgramData\\InnovaCommerce"),
            )
        if not path.is_absolute():
            path = self.base_dir / path
        return Path(os.path.normpath(path))

    def readable_file(self, value: object, key: str, hint: str | None = None) -> Path:
        path = self.path(value, key)
        try:
            if path.is_dir():
                raise self.bad(key, _("{path} is a folder, not a file.").format(path=path), hint)
            with path.open("rb"):
                pass
        except FileNotFoundError:
            raise self.bad(
                key, _("the file {path} does not exist.").format(path=path), hint
            ) from None
        except OSError as exc:
            raise self.bad(
                key,
                _("the file {path} cannot be read: {error}").format(
                    path=path, error=exc.strerror or exc
                ),
                hint,
            ) from exc
        return path

    def relative_file(self, value: object, key: str) -> str:
        """A file inside the install folder, as written (``tpv.exe``, ``bin\\tpv.exe``)."""
        text = self.string(value, key)
        flavours = (PureWindowsPath(text), PurePosixPath(text))
        if any(p.is_absolute() or p.drive or p.root for p in flavours) or any(
            ".." in p.parts for p in flavours
        ):
            raise self.bad(
                key,
                _("{path} must be a path relative to the install folder, inside it.").format(
                    path=text
                ),
            )
        if all(part == "." for part in PureWindowsPath(text).parts):
            raise self.bad(key, _("{path} does not name a file.").format(path=text))
        return text

    def command(self, value: object, key: str) -> Command:
        """A command line: a non-empty list of strings, the first one the program."""
        if not isinstance(value, list):
            raise self.wrong_type(key, _("a list of strings"), value)
        if not value:
            raise self.bad(key, _("must name at least the program to run."))
        for index, arg in enumerate(value):
            where = _key(key, index)
            if not isinstance(arg, str):
                raise self.wrong_type(where, _("a string"), arg, text_expected=True)
            if _has_control(arg):
                raise self.bad(
                    where,
                    _("contains a control character (such as a tab or a line break)."),
                    hint=self.backslash_hint(),
                )
            for name in _PLACEHOLDER.findall(arg):
                if "{" + name + "}" != INSTALL_DIR_PLACEHOLDER:
                    raise self.bad(
                        where,
                        _("unknown placeholder {found}; the only placeholder is {known}.").format(
                            found="{" + name + "}", known=INSTALL_DIR_PLACEHOLDER
                        ),
                    )
        program = value[0]
        if not program.strip():
            raise self.bad(_key(key, 0), _("the program must not be empty."))
        separators = {os.sep, os.altsep} - {None}
        if (
            any(sep in program for sep in separators)
            and not program.startswith(INSTALL_DIR_PLACEHOLDER)
            and not Path(program).is_absolute()
        ):
            raise self.bad(
                _key(key, 0),
                _(
                    "the program {program} is a relative path, which would depend on the "
                    "current folder; start it with {placeholder} or write its full path."
                ).format(program=program, placeholder=INSTALL_DIR_PLACEHOLDER),
            )
        return tuple(value)

    # -- sections ------------------------------------------------------------------------

    def config(self, document: dict[str, Any]) -> MachineConfig:
        top = self.table(document, "", _TOP_KEYS)

        state_dir = (
            self.path(top["state_dir"], "state_dir") if "state_dir" in top else default_state_dir()
        )
        interval = 6.0
        if "check_interval_hours" in top:
            interval = self.positive(top["check_interval_hours"], "check_interval_hours")
        language: str | None = None
        if "language" in top:
            language = self.string(top["language"], "language")
            if language not in SUPPORTED:
                raise self.bad(
                    "language",
                    _("must be one of {choices}, not '{value}'.").format(
                        choices=", ".join(SUPPORTED), value=language
                    ),
                )
        support_url: str | None = None
        if "support_url" in top:
            support_url = self.string(top["support_url"], "support_url").strip()
            if urllib.parse.urlsplit(support_url).scheme not in ("http", "https"):
                raise self.bad("support_url", _("must be an http:// or https:// address."))
        if "feed" not in top:
            raise self.bad(
                "feed",
                _("the [feed] table is missing; it says where updates come from."),
            )
        feed = self.feed(top["feed"])
        retention = self.retention(top.get("retention", {}))
        products = self.products(top.get("products"))
        self.check_state_dir(state_dir, "state_dir", products)
        return MachineConfig(
            source=self.source,
            state_dir=state_dir,
            feed=feed,
            products=MappingProxyType(products),
            retention=retention,
            check_interval_hours=interval,
            language=language,
            support_url=support_url,
        )

    def feed_address(self, value: object, key: str) -> str:
        text = self.string(value, key).strip()
        try:
            scheme = urllib.parse.urlsplit(text).scheme
            if (scheme == "" or len(scheme) == 1) and not text.startswith("~"):
                # A folder: relative to the configuration file, not the current folder.
                text = str(self.path(text, key))
            return feed_url(text)
        except ConfigError as exc:
            raise self.bad(key, exc.message, exc.hint) from exc
        except (ValueError, OSError, RuntimeError) as exc:
            # The text is not repeated: it may hold a user name and password.
            raise self.bad(key, _("not a valid address: {error}").format(error=exc)) from exc

    def feed(self, value: object) -> FeedConfig:
        raw = self.table(value, "feed", _FEED_KEYS)
        if "url" not in raw:
            raise self.missing("feed.url")
        url = self.feed_address(raw["url"], "feed.url")
        mirrors: list[str] = []
        if "mirrors" in raw:
            listed = raw["mirrors"]
            if not isinstance(listed, list):
                raise self.wrong_type("feed.mirrors", _("a list of strings"), listed)
            for index, item in enumerate(listed):
                where = _key("feed", "mirrors", index)
                mirror = self.feed_address(item, where)
                if mirror == url or mirror in mirrors:
                    raise self.bad(where, _("{url} is listed more than once.").format(url=mirror))
                mirrors.append(mirror)
        if "root" not in raw:
            raise self.missing("feed.root")
        root = self.readable_file(
            raw["root"],
            "feed.root",
            hint=_(
                "The root of trust (root.json) comes with the updater's installer; "
                "reinstall it or ask support for the file."
            ),
        )
        channel = "stable"
        if "channel" in raw:
            channel = self.identifier(
                self.string(raw["channel"], "feed.channel"),
                "feed.channel",
                _("'{value}' is not a valid channel name."),
            )
        channels: list[str] = []
        if "channels" in raw:
            listed = raw["channels"]
            if not isinstance(listed, list):
                raise self.wrong_type("feed.channels", _("a list of strings"), listed)
            for index, item in enumerate(listed):
                where = _key("feed", "channels", index)
                name = self.identifier(
                    self.string(item, where), where, _("'{value}' is not a valid channel name.")
                )
                if name not in channels:
                    channels.append(name)
        ca_bundle = None
        if "ca_bundle" in raw:
            ca_bundle = self.readable_file(raw["ca_bundle"], "feed.ca_bundle")
        return FeedConfig(
            url=url, mirrors=tuple(mirrors), root=root, channel=channel, ca_bundle=ca_bundle,
            channels=tuple(channels),
        )  # fmt: skip

    def retention(self, value: object) -> Retention:
        raw = self.table(value, "retention", _RETENTION_KEYS)
        keep = self.whole(raw["keep"], "retention.keep", 1) if "keep" in raw else 2
        max_disk_mb = None
        if "max_disk_mb" in raw:
            max_disk_mb = self.whole(raw["max_disk_mb"], "retention.max_disk_mb", 1)
        return Retention(keep=keep, max_disk_mb=max_disk_mb)

    def products(self, value: object) -> dict[str, ProductConfig]:
        no_products = _("no product is configured; add a [products.<id>] table for each one.")
        if value is None:
            raise self.bad("products", no_products)
        if not isinstance(value, dict):
            raise self.wrong_type("products", _("a table"), value)
        if not value:
            raise self.bad("products", no_products)
        products: dict[str, ProductConfig] = {}
        for product_id, raw in value.items():
            key = _key("products", product_id)
            self.identifier(product_id, key, _("'{value}' is not a valid product id."))
            product = self.product(product_id, raw, key)
            for other in products.values():
                self.check_apart(
                    product.install_dir,
                    _key(key, "install_dir"),
                    other.install_dir,
                    _key("products", other.id, "install_dir"),
                )
            products[product_id] = product
        for product in products.values():
            for other in products.values():
                if other is product:
                    continue
                for index, data_path in enumerate(product.data_paths):
                    self.check_apart(
                        data_path,
                        _key("products", product.id, "data_paths", index),
                        other.install_dir,
                        _key("products", other.id, "install_dir"),
                    )
        return products

    def optional_positive(self, raw: dict[str, Any], name: str, key: str, default: float) -> float:
        return self.positive(raw[name], _key(key, name)) if name in raw else default

    def product(self, product_id: str, value: object, key: str) -> ProductConfig:
        raw = self.table(value, key, _PRODUCT_KEYS)
        for required in ("name", "install_dir", "executable"):
            if required not in raw:
                raise self.missing(_key(key, required))
        name = self.string(raw["name"], _key(key, "name")).strip()
        install_dir = self.path(raw["install_dir"], _key(key, "install_dir"))
        if install_dir.parent == install_dir:
            raise self.bad(
                _key(key, "install_dir"),
                _(
                    "{path} is the root of a drive; the install folder is replaced by each update."
                ).format(path=install_dir),
            )
        executable = self.relative_file(raw["executable"], _key(key, "executable"))
        version = self.version_source(raw, key, executable)

        health_check = HealthCheck()
        if "health_check" in raw:
            health_check = HealthCheck(
                command=self.command(raw["health_check"], _key(key, "health_check")),
                timeout=self.optional_positive(raw, "health_timeout", key, 60.0),
            )
        elif "health_timeout" in raw:
            raise self.bad(
                _key(key, "health_timeout"),
                _("is set, but there is no {command} to time.").format(command="health_check"),
            )

        data_paths = self.data_paths(raw.get("data_paths", []), key, install_dir)
        prestashop = self.prestashop(raw, key)
        hooks = self.hooks(raw.get("hooks", {}), _key(key, "hooks"))
        return ProductConfig(
            id=product_id,
            name=name,
            install_dir=install_dir,
            executable=executable,
            version=version,
            health_check=health_check,
            data_paths=data_paths,
            prestashop=prestashop,
            hooks=hooks,
        )

    def version_source(self, raw: dict[str, Any], key: str, executable: str) -> VersionSource:
        kind: VersionKind = "file"
        if "version_from" in raw:
            given = self.string(raw["version_from"], _key(key, "version_from"))
            for candidate in _VERSION_KINDS:
                if given == candidate:
                    kind = candidate
                    break
            else:
                raise self.bad(
                    _key(key, "version_from"),
                    _("must be one of {choices}, not '{value}'.").format(
                        choices=", ".join(_VERSION_KINDS), value=given
                    ),
                )
        for name, used_with in _VERSION_KEYS.items():
            if name in raw and used_with != kind:
                raise self.bad(
                    _key(key, name),
                    _('is only used with version_from = "{used_with}", not "{kind}".').format(
                        used_with=used_with, kind=kind
                    ),
                )
        if kind == "file":
            file = "VERSION"
            if "version_file" in raw:
                file = self.relative_file(raw["version_file"], _key(key, "version_file"))
            return VersionSource(kind="file", file=file)
        if kind == "registry":
            if "registry_key" not in raw:
                raise self.bad(
                    _key(key, "registry_key"),
                    _('is required with version_from = "registry".'),
                )
            registry_key = self.string(raw["registry_key"], _key(key, "registry_key")).strip()
            if "\\" in registry_key or "/" in registry_key:
                raise self.bad(
                    _key(key, "registry_key"),
                    _("must be the name of the uninstall key only, not a path."),
                    hint=_("Give only the part after ...\\Uninstall\\, as in {example}.").format(
                        example="{8F3C2A10-5B7E-4C1D-9A2B-3E4F5A6B7C8D}_is1"
                    ),
                )
            return VersionSource(kind="registry", registry_key=registry_key)
        version_executable = executable
        if "version_executable" in raw:
            version_executable = self.relative_file(
                raw["version_executable"], _key(key, "version_executable")
            )
        return VersionSource(kind="file_version", executable=version_executable)

    def data_paths(self, value: object, product_key: str, install_dir: Path) -> tuple[Path, ...]:
        key = _key(product_key, "data_paths")
        if not isinstance(value, list):
            raise self.wrong_type(key, _("a list of strings"), value)
        paths: list[Path] = []
        for index, item in enumerate(value):
            where = _key(key, index)
            path = self.path(item, where)
            self.check_apart(path, where, install_dir, _key(product_key, "install_dir"))
            for other_index, other in enumerate(paths):
                self.check_apart(path, where, other, _key(key, other_index))
            paths.append(path)
        return tuple(paths)

    def check_apart(self, path: Path, key: str, other: Path, other_key: str) -> None:
        """Fail when ``path`` (at ``key``) and ``other`` (at ``other_key``) overlap."""
        relation = _overlap(path, other)
        if relation is None:
            return
        if relation == "same":
            problem = _("{path} is the same as {other_key} ({other}).")
        elif relation == "inside":
            problem = _("{path} is inside {other_key} ({other}).")
        else:
            problem = _("{path} contains {other_key} ({other}).")
        raise self.bad(
            key,
            problem.format(path=path, other_key=other_key, other=other),
            hint=_(
                "Install folders are replaced by each update, data paths are restored on "
                "rollback and the state folder is the updater's own: none of them may "
                "overlap another."
            ),
        )

    def check_state_dir(
        self, state_dir: Path, key: str, products: dict[str, ProductConfig]
    ) -> None:
        for product in products.values():
            self.check_apart(
                state_dir, key, product.install_dir, _key("products", product.id, "install_dir")
            )
            for index, data_path in enumerate(product.data_paths):
                self.check_apart(
                    state_dir, key, data_path, _key("products", product.id, "data_paths", index)
                )

    def prestashop(self, raw: dict[str, Any], key: str) -> Prestashop | None:
        has_version = "prestashop_version" in raw
        has_command = "prestashop_command" in raw
        if has_version and has_command:
            raise self.bad(
                _key(key, "prestashop_command"),
                _("set either prestashop_version or prestashop_command, not both."),
            )
        if "prestashop_timeout" in raw and not has_command:
            raise self.bad(
                _key(key, "prestashop_timeout"),
                _("is set, but there is no {command} to time.").format(
                    command="prestashop_command"
                ),
            )
        if has_version:
            where = _key(key, "prestashop_version")
            version = self.string(raw["prestashop_version"], where).strip()
            try:
                Version(version)
            except InvalidVersion:
                raise self.bad(
                    where, _("'{value}' is not a valid version number.").format(value=version)
                ) from None
            return Prestashop(version=version)
        if has_command:
            return Prestashop(
                command=self.command(raw["prestashop_command"], _key(key, "prestashop_command")),
                timeout=self.optional_positive(raw, "prestashop_timeout", key, 30.0),
            )
        return None

    def hooks(self, value: object, key: str) -> Hooks:
        raw = self.table(value, key, _HOOK_KEYS)
        commands = {
            name: self.command(raw[name], _key(key, name))
            for name in ("pre_snapshot", "post_swap", "post_restore")
            if name in raw
        }
        if "timeout" in raw and not commands:
            raise self.bad(
                _key(key, "timeout"),
                _("is set, but there is no hook to time."),
            )
        return Hooks(
            pre_snapshot=commands.get("pre_snapshot"),
            post_swap=commands.get("post_swap"),
            post_restore=commands.get("post_restore"),
            timeout=self.optional_positive(raw, "timeout", key, 300.0),
        )
