"""Setting up and removing the updater on one PC: what the Windows installer asks for.

``innova-update setup-machine`` (run by the installer, as administrator) puts the
machine configuration in place (from a file IT staff give, or the one already there),
optionally with another feed address, restricts the configuration and state folders to
administrators, and registers the nightly silent update. ``--remove`` undoes it on
uninstall, keeping the saved copies of previous versions only when asked. Nothing is
changed when the configuration given is not valid.
"""

from __future__ import annotations

import contextlib
import logging
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from updater.errors import ConfigError, StorageError
from updater.fsutil import remove_tree, write_atomic
from updater.i18n import _
from updater.machine.config import MachineConfig, default_config_path, load_config
from updater.machine.preferences import OWNER_DIR
from updater.machine.state import StateDir
from updater.platform.base import APPLY_TASK, NIGHTLY_TASK, Platform

log = logging.getLogger(__name__)

__all__ = [
    "RemoveResult",
    "SetupResult",
    "parse_time_of_day",
    "remove_machine",
    "set_feed_url",
    "setup_machine",
]

#: What the nightly task runs by default (after the program's path).
DEFAULT_UPDATE_ARGS = "update --silent"
_FEED_TABLE = re.compile(r"^\s*\[feed\]\s*(#.*)?$", re.MULTILINE)
_NEXT_TABLE = re.compile(r"^\s*\[", re.MULTILINE)
_URL_LINE = re.compile(r"^(\s*)url\s*=.*$", re.MULTILINE)
_TIME = re.compile(r"^([01]?[0-9]|2[0-3]):([0-5][0-9])$")


@dataclass(frozen=True)
class SetupResult:
    config_path: Path
    state_dir: Path
    task: str | None


@dataclass(frozen=True)
class RemoveResult:
    removed: list[Path] = field(default_factory=list)
    kept: list[Path] = field(default_factory=list)


def parse_time_of_day(text: str) -> tuple[int, int]:
    """``"03:00"`` -> ``(3, 0)``.

    Raises:
        ConfigError: not a time of day (HH:MM, 24-hour).
    """
    found = _TIME.match(text.strip())
    if not found:
        raise ConfigError(
            _("'{value}' is not a time of day; write it as HH:MM, e.g. 03:00.").format(value=text)
        )
    return int(found.group(1)), int(found.group(2))


def set_feed_url(text: str, url: str) -> str:
    """The configuration ``text`` with ``[feed] url`` set to ``url`` (comments and the
    rest of the file kept as written)."""
    value = '"' + url.replace("\\", "\\\\").replace('"', '\\"') + '"'
    table = _FEED_TABLE.search(text)
    if table is None:
        return text.rstrip("\n") + f"\n\n[feed]\nurl = {value}\n"
    start = table.end()
    following = _NEXT_TABLE.search(text, start)
    end = following.start() if following else len(text)
    section = text[start:end]
    if _URL_LINE.search(section):
        section = _URL_LINE.sub(lambda m: f"{m.group(1)}url = {value}", section, count=1)
    else:
        section = f"\nurl = {value}" + section
    return text[:start] + section + text[end:]


def setup_machine(
    platform: Platform,
    *,
    program: Path,
    config_from: Path | None = None,
    feed_url: str | None = None,
    update_at: tuple[int, int] | None = None,
    update_args: str = DEFAULT_UPDATE_ARGS,
    config_path: Path | None = None,
) -> SetupResult:
    """Put the configuration in place, lock its folders down, register the nightly task.

    Raises:
        ConfigError: no configuration (none given and none in place), or it is not valid
            (nothing was changed).
        StorageError: a file or a permission could not be written.
    """
    target = (config_path or default_config_path()).absolute()
    source = config_from.absolute() if config_from is not None else target
    foreign = _foreign(platform, target.parent)
    if foreign is not None and config_from is None:
        # A user may have made the folder (C:\ProgramData lets every user create one)
        # and put a configuration in it: it is not ours to adopt.
        raise ConfigError(
            _("The configuration in {folder} is not used: {reason}").format(
                folder=target.parent, reason=foreign
            ),
            hint=_(
                "The folder was not made by the updater's setup. Give the configuration "
                "with /CONFIG=path: the folder is then emptied and made the "
                "administrators' (see docs/security.md)."
            ),
        )
    try:
        text = source.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ConfigError(
            _("There is no configuration to install: {path} does not exist.").format(path=source),
            hint=_("Give the configuration file with /CONFIG=path (see docs/deploying.md)."),
        ) from None
    except OSError as exc:
        raise ConfigError(
            _("The configuration file {file} cannot be read: {error}").format(
                file=source, error=exc.strerror or exc
            )
        ) from exc
    if feed_url is not None:
        text = set_feed_url(text, feed_url)
    _make_ours(platform, target.parent, foreign)
    copied = _copy_root_of_trust(source, target, text)
    try:
        config = _validated(text, target)
    except BaseException:
        for path in copied:
            with contextlib.suppress(OSError):
                path.unlink()
        raise
    try:
        task = None
        if update_at is not None:  # first: where it cannot be done, nothing is changed
            platform.register_daily_task(
                NIGHTLY_TASK,
                program,
                update_args,
                _("Installs InnovaCommerce updates silently every night."),
                update_at,
            )
            task = NIGHTLY_TASK
        write_atomic(target, text.encode("utf-8"))
        if config.state_dir != target.parent:
            _make_ours(platform, config.state_dir, _foreign(platform, config.state_dir))
        state = StateDir(config.state_dir)
        state.ensure()  # made now, as administrator: the tray may only read them
        state.machine_id()
        for folder in dict.fromkeys([target.parent, config.state_dir]):
            platform.restrict_to_administrators(folder)
        # The journal of an update in progress is the administrators' alone (the tray
        # learns that an update runs from the lock's owner file).
        platform.make_private(state.journal_dir)
        # The tray (as the user) hands work to the elevated updater through the
        # on-demand task and its channel (updater/machine/elevation.py), and keeps the owner's
        # choices in owner/ (updater/machine/preferences.py): the one folder users may write.
        # Versions before 1.1 let users write requests/ too: it goes.
        legacy = config.state_dir / "requests"
        if legacy.is_dir() and not legacy.is_symlink():
            remove_tree(legacy)
        platform.allow_users_to_submit(config.state_dir / OWNER_DIR)
        platform.register_on_demand_task(
            APPLY_TASK,
            program,
            f'apply-requests --config "{target}"',
            _("Installs the updates the shop owner asks for in the tray."),
        )
    except (OSError, StorageError) as exc:
        for path in copied:
            with contextlib.suppress(OSError):
                path.unlink()
        raise StorageError(
            _("The updater could not be set up on this PC: {error}").format(
                error=exc.message if isinstance(exc, StorageError) else exc.strerror or exc
            ),
            hint=_("Run the installer as an administrator."),
        ) from exc
    return SetupResult(target, config.state_dir, task)


def _foreign(platform: Platform, folder: Path) -> str | None:
    """Why ``folder``, if it exists, cannot be the updater's: someone other than an
    administrator made it, owns it or may write in it (None: it is ours, or absent)."""
    if not folder.exists():
        return None
    try:
        return platform.others_may_write(folder)
    except OSError as exc:
        return str(exc)


def _make_ours(platform: Platform, folder: Path, foreign: str | None) -> None:
    """Create ``folder`` for the updater, or take over one that was not its own.

    A new folder is locked down at once, and anything found in it then was planted in
    the moment between: it is removed. A folder someone else made (``foreign``) is
    made the administrators' and locked down, and everything in it removed, links
    deleted, never followed: a planted configuration, root of trust or trusted
    metadata is not adopted.
    """
    created = not folder.exists()
    if foreign is not None:
        log.warning("Taking over %s, which was not the updater's: %s", folder, foreign)
        platform.take_ownership(folder)
    folder.mkdir(parents=True, exist_ok=True)
    platform.restrict_to_administrators(folder)
    if created or foreign is not None:
        for child in sorted(folder.iterdir()):  # ours now: nobody else may swap it
            platform.remove_no_follow(child)


def _validated(text: str, target: Path) -> MachineConfig:
    """The configuration ``text`` parsed as if it were at ``target`` (relative paths
    are read from there)."""
    with tempfile.NamedTemporaryFile(
        "w", encoding="utf-8", dir=target.parent, suffix=".toml", delete=False
    ) as handle:
        handle.write(text)
        probe = Path(handle.name)
    try:
        return load_config(probe)
    finally:
        probe.unlink(missing_ok=True)


def _copy_root_of_trust(source: Path, target: Path, text: str) -> list[Path]:
    """When the given configuration names its root of trust by a relative path, copy
    that file next to the installed configuration too. Returns what was written."""
    if source.parent == target.parent:
        return []
    found = re.search(r"^\s*root\s*=\s*['\"]([^'\"]+)['\"]", text, re.MULTILINE)
    if not found or Path(found.group(1)).is_absolute():
        return []
    relative = Path(found.group(1))
    origin, destination = source.parent / relative, target.parent / relative
    if not origin.is_file():
        return []
    destination.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(origin, destination)
    return [destination]


def remove_machine(
    platform: Platform, *, keep_snapshots: bool, config_path: Path | None = None
) -> RemoveResult:
    """Remove the nightly task and the state folder (except the snapshots, if asked),
    and the configuration with its root of trust when that lies in the configuration's
    folder (unless the snapshots are kept: they belong to it). Nothing else in the
    configuration's folder is touched, and nothing outside the updater's folders: a root
    of trust that the configuration names elsewhere is the operator's and stays.

    Raises:
        StorageError: something could not be removed.
    """
    target = (config_path or default_config_path()).absolute()
    platform.remove_task(NIGHTLY_TASK)
    platform.remove_task(APPLY_TASK)
    result = RemoveResult()
    config = None
    with contextlib.suppress(ConfigError):
        config = load_config(target)
    try:
        if config is not None and config.state_dir.is_dir():
            for child in sorted(config.state_dir.iterdir()):
                if keep_snapshots and child.name == "snapshots":
                    result.kept.append(child)
                    continue
                _remove(child)
                result.removed.append(child)
        ours = [target]
        # The root of trust is ours only where setup_machine put it: next to the
        # configuration. One named by a path elsewhere is the operator's file.
        if config is not None and config.feed.root.resolve().is_relative_to(
            target.parent.resolve()
        ):
            ours.append(config.feed.root)
        for path in ours:
            if not path.exists():
                continue
            if keep_snapshots:
                result.kept.append(path)
                continue
            _remove(path)
            result.removed.append(path)
        folders = [target.parent] + ([config.state_dir] if config is not None else [])
        for folder in folders:
            with contextlib.suppress(OSError):
                folder.rmdir()  # only when empty
    except OSError as exc:
        raise StorageError(
            _("Cannot remove {path}: {error}").format(
                path=getattr(exc, "filename", "") or "", error=exc.strerror or exc
            )
        ) from exc
    return result


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        remove_tree(path)
    else:
        path.unlink()
