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

The work is shared with private siblings: ``_config_model`` (the dataclasses),
``_config_values`` (each value checked, the key path in every error) and
``_config_tables`` (the tables of the file, read into the dataclasses). Import every
name from here.

May import: those siblings, the core (errors, i18n) and :mod:`platformdirs`.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path

import platformdirs

from updater.errors import ConfigError
from updater.i18n import _
from updater.machine._config_model import (
    APP_NAME,
    INSTALL_DIR_PLACEHOLDER,
    Command,
    FeedConfig,
    HealthCheck,
    Hooks,
    MachineConfig,
    Prestashop,
    ProductConfig,
    Retention,
    VersionKind,
    VersionSource,
    default_state_dir,
)
from updater.machine._config_tables import ConfigReader

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


#: Environment variable naming the configuration file when ``--config`` is not given.
CONFIG_ENV = "INNOVA_UPDATER_CONFIG"
#: Name of the configuration file inside the default configuration folder.
CONFIG_FILENAME = "config.toml"


# --- where the file is --------------------------------------------------------------------


def default_config_path() -> Path:
    """The configuration file used when neither ``--config`` nor the environment name one.

    ``C:\\ProgramData\\InnovaCommerce Updater\\config.toml`` on Windows (from
    :func:`platformdirs.site_config_dir`).
    """
    return Path(platformdirs.site_config_dir(APP_NAME, appauthor=False)) / CONFIG_FILENAME


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
    reader = ConfigReader(source=source, base_dir=Path(os.path.normpath(base_dir.absolute())))
    return reader.config(document)
