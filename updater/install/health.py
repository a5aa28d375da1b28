"""Is the installed program the version we expect, and does it work?

Three pieces, used after an update is put in place (and by the hooks around it):

* :func:`read_installed_version` reads the version a product reports, from a text file
  in its folder, its uninstall entry in the registry, or its executable's version
  resource (the last two only on Windows, through :mod:`updater.platform`);
* :func:`run_command` runs a command with a time limit, capturing what it prints, and
  makes sure that neither it nor anything it started is left running;
* :func:`check_health` combines them and raises
  :class:`~updater.errors.HealthCheckError`: a sentence for the shop owner, and the
  technical details (exit code, time-out, last lines of output) for the log.
"""

from __future__ import annotations

import locale
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Protocol

from packaging.version import InvalidVersion, Version

from updater.errors import ConfigError, HealthCheckError, InstallError
from updater.i18n import _, ngettext
from updater.platform import Platform
from updater.platform import current as current_platform

if TYPE_CHECKING:
    from updater.machine.config import ProductConfig

__all__ = [
    "OUTPUT_LIMIT",
    "CommandResult",
    "VersionSourceLike",
    "check_health",
    "read_installed_version",
    "run_command",
]

#: How many characters of a command's output are kept (the end of it).
OUTPUT_LIMIT = 4000

#: How many bytes of a version file are looked at; a version is one short line.
_VERSION_FILE_LIMIT = 4096

#: How many lines of output go into a health check error's details.
_DETAIL_LINES = 20


class VersionSourceLike(Protocol):
    """Where a product's installed version is read from (``config.VersionSource``)."""

    @property
    def kind(self) -> str:
        """``"file"``, ``"registry"`` or ``"file_version"``."""
        ...

    @property
    def file(self) -> str | None:
        """For ``"file"``: the text file, relative to the install folder."""
        ...

    @property
    def registry_key(self) -> str | None:
        """For ``"registry"``: the name of the program's uninstall key."""
        ...

    @property
    def executable(self) -> str | None:
        """For ``"file_version"``: the executable, relative to the install folder."""
        ...


# ---------------------------------------------------------------------- versions


def _parse_version(text: str, complaint: Callable[[str], str]) -> Version:
    """``text`` as a version; ``complaint(shown_text)`` is the error's sentence if not."""
    try:
        return Version(text)
    except InvalidVersion as exc:
        shown = "".join(ch if ch.isprintable() else "?" for ch in text[:40])
        shown += "…" if len(text) > 40 else ""
        raise InstallError(
            complaint(shown),
            hint=_(
                "The program's installation may be damaged: reinstall it, or contact "
                "InnovaCommerce support."
            ),
        ) from exc


def _first_line(path: Path) -> str | None:
    """The first line of text file ``path``, stripped; ``None`` if the file is missing."""
    try:
        with path.open("rb") as fileobj:
            head = fileobj.read(_VERSION_FILE_LIMIT)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        raise InstallError(
            _("Could not read the version file {path}: {error}").format(
                path=path, error=exc.strerror or exc
            )
        ) from exc
    try:
        text = head.decode("utf-8-sig")  # Notepad may have saved it with a BOM
    except UnicodeDecodeError:
        text = head.decode("latin-1")  # not a version either way; shown in the error
    lines = text.splitlines()
    return lines[0].strip().strip("\x00").strip() if lines else ""


def read_installed_version(
    install_dir: Path,
    source: VersionSourceLike,
    executable: str,
    platform: Platform = current_platform,
) -> Version | None:
    """The version of the product installed in ``install_dir``, read as ``source`` says.

    ``executable`` (relative to ``install_dir``) is used for ``"file_version"`` when the
    source names no executable of its own. Returns ``None`` when there is nothing to
    read (no version file, no uninstall entry, no version resource, or a source that
    does not exist on this OS). Raises :class:`~updater.errors.InstallError` when there
    is something but it is not a version number, and
    :class:`~updater.errors.ConfigError` for a source it does not know.
    """
    kind = str(getattr(source.kind, "value", source.kind))
    if kind == "file":
        if not source.file:
            raise ConfigError(_("The version source names no version file."))
        path = install_dir / source.file
        text = _first_line(path)
        if text is None:
            return None
        return _parse_version(
            text,
            lambda shown: _('The version file {path} holds "{text}", not a version number.').format(
                path=path, text=shown
            ),
        )
    if kind == "registry":
        if not source.registry_key:
            raise ConfigError(_("The version source names no registry key."))
        text = platform.read_registry_version(source.registry_key)
        if text is None:
            return None
        key = source.registry_key
        return _parse_version(
            text,
            lambda shown: _(
                'The registry entry {key} holds "{text}", not a version number.'
            ).format(key=key, text=shown),
        )
    if kind == "file_version":
        exe = install_dir / (source.executable or executable)
        text = platform.read_file_version(exe)
        if text is None:
            return None
        return _parse_version(
            text,
            lambda shown: _(
                'The version stored in {path} is "{text}", not a version number.'
            ).format(path=exe, text=shown),
        )
    raise ConfigError(_('Unknown version source "{kind}".').format(kind=kind))


# ---------------------------------------------------------------------- commands


@dataclass(frozen=True)
class CommandResult:
    """How a command run by :func:`run_command` ended.

    Attributes:
        returncode: Its exit code; ``None`` if it could not be started or was killed
            because it ran out of time.
        timed_out: Whether it was killed because it ran out of time.
        output: The last :data:`OUTPUT_LIMIT` characters of what it printed (standard
            output and error, interleaved), or the OS error if it could not start.
        duration: Seconds from start to end.
    """

    returncode: int | None
    timed_out: bool
    output: str
    duration: float

    @property
    def ok(self) -> bool:
        """Whether it ran and exited with code 0 in time."""
        return self.returncode == 0 and not self.timed_out


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        # Windows programs often print in the ANSI code page.
        return data.decode(locale.getpreferredencoding(False), errors="replace")


def _tail(fileobj: IO[bytes], limit: int = OUTPUT_LIMIT) -> str:
    """The last ``limit`` characters written to ``fileobj``."""
    size = fileobj.seek(0, os.SEEK_END)
    start = max(0, size - 4 * limit)  # a character is at most 4 bytes of UTF-8
    fileobj.seek(start)
    data = fileobj.read()
    if start:
        # Do not start in the middle of a UTF-8 character.
        skip = 0
        while skip < min(3, len(data)) and 0x80 <= data[skip] <= 0xBF:
            skip += 1
        data = data[skip:]
    text = _decode(data).replace("\r\n", "\n")
    return text[-limit:]


def run_command(
    argv: Sequence[str],
    *,
    timeout: float,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    platform: Platform = current_platform,
) -> CommandResult:
    """Run ``argv`` (no shell) for at most ``timeout`` seconds and report how it ended.

    The command gets no input, runs in a process group (a job object on Windows) of
    its own, without a console window on Windows, and its output goes to a temporary
    file, so a program that prints a lot never blocks and a background process that
    inherited the output cannot keep the call waiting. ``env`` holds variables set on
    top of the updater's own environment.

    When the time runs out the command and every process it started are killed; when
    it exits by itself, processes it left behind are killed too (its process group on
    POSIX, its job object on Windows). Nothing is left running and the command is
    reaped. A command that cannot be started (no such program, no permission) is
    reported with ``returncode=None`` and the OS error as its output, not raised.
    """
    if not argv:
        raise ValueError("argv must name a program")
    args = [str(arg) for arg in argv]
    full_env = None if env is None else {**os.environ, **env}
    started = time.monotonic()
    with tempfile.TemporaryFile() as output:
        try:
            proc = platform.start_child(
                args,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                cwd=cwd,
                env=full_env,
            )
        except OSError as exc:
            return CommandResult(
                returncode=None,
                timed_out=False,
                output=f"{args[0]}: {exc}",
                duration=time.monotonic() - started,
            )
        exited = platform.wait_child_tree(proc, timeout)
        duration = time.monotonic() - started
        return CommandResult(
            returncode=proc.returncode if exited else None,
            timed_out=not exited,
            output=_tail(output),
            duration=duration,
        )


# ---------------------------------------------------------------------- health check


def _command_details(argv: Sequence[str], result: CommandResult, timeout: float) -> str:
    """Technical details of a failed check, for the log and support (not translated)."""
    if result.timed_out:
        outcome = f"timed out after {timeout:g} s (killed)"
    elif result.returncode is None:
        outcome = "could not be started"
    else:
        outcome = f"exit code {result.returncode}"
    return (
        f"command: {subprocess.list2cmdline([str(arg) for arg in argv])}\n"
        f"result: {outcome}\n"
        f"duration: {result.duration:.2f} s"
    )


def last_lines(output: str) -> str:
    """The last lines a command printed, as kept for support."""
    return "\n".join(output.rstrip("\n").splitlines()[-_DETAIL_LINES:])


def _support_hint() -> str:
    return _(
        "If this keeps happening, contact InnovaCommerce support and give them the "
        "details from the updater's log."
    )


def check_health(
    argv: Sequence[str] | None,
    *,
    timeout: float,
    expected_version: Version,
    read_version: Callable[[], Version | None],
    cwd: Path | None = None,
) -> None:
    """Check that the freshly installed program is ``expected_version`` and works.

    First the installed version is read with ``read_version`` (for example
    :func:`read_installed_version` with the product's settings); then, unless ``argv``
    is ``None``, the product's check command is run with :func:`run_command` and must
    exit with code 0 within ``timeout`` seconds. Any failure raises
    :class:`~updater.errors.HealthCheckError` whose ``details`` hold the technical
    account.
    """
    try:
        found = read_version()
    except HealthCheckError:
        raise
    except InstallError as exc:
        raise HealthCheckError(
            _("After the update, the program's version could not be read."),
            hint=exc.hint or _support_hint(),
            details=f"expected version {expected_version}; {exc.message}",
        ) from exc
    if found is None:
        raise HealthCheckError(
            _("After the update, the program's version could not be found."),
            hint=_support_hint(),
            details=f"expected version {expected_version}; no version found",
        )
    if found != expected_version:
        raise HealthCheckError(
            _("After the update, version {found} is installed instead of {expected}.").format(
                found=found, expected=expected_version
            ),
            hint=_support_hint(),
            details=f"expected version {expected_version}; found {found}",
        )
    if argv is None:
        return

    result = run_command(argv, timeout=timeout, cwd=cwd)
    if result.ok:
        return
    if result.timed_out:
        count = int(timeout) if float(timeout).is_integer() else 2  # "1.5 seconds"
        message = ngettext(
            "The updated program did not finish its self-check within {seconds} second.",
            "The updated program did not finish its self-check within {seconds} seconds.",
            count,
        ).format(seconds=f"{timeout:g}")
    elif result.returncode is None:
        message = _("The updated program's self-check could not be started.")
    else:
        message = _("The updated program failed its self-check (code {code}).").format(
            code=result.returncode
        )
    raise HealthCheckError(
        message, hint=_support_hint(), details=_command_details(argv, result, timeout),
        output=last_lines(result.output),
    )  # fmt: skip


# ------------------------------------------------------- what SYSTEM may run


def product_commands(product: ProductConfig) -> dict[str, list[str]]:
    """Every command the configuration makes the updater run for ``product``, by the
    name of its key, expanded."""
    commands = {
        "pre_snapshot": product.hooks.pre_snapshot,
        "post_swap": product.hooks.post_swap,
        "post_restore": product.hooks.post_restore,
        "health_check": product.health_check.command,
        "prestashop_command": product.prestashop.command if product.prestashop else None,
    }
    return {name: product.expand(argv) for name, argv in commands.items() if argv}


def command_programs(argv: Sequence[str]) -> list[Path]:
    """The files a command runs: its program (looked up on the PATH when it is a bare
    name, as Windows would) and every argument naming an existing file (a script for
    an interpreter)."""
    found = []
    for index, arg in enumerate(argv):
        text = (shutil.which(arg) or arg) if index == 0 else arg
        path = Path(text)
        if path.is_absolute() and path.is_file():
            found.append(path)
    return found


def unsafe_program(platform: Platform, program: Path) -> str | None:
    """Why a standard user could change what ``program`` runs (a sentence), None when
    only administrators can. A link (a venv's ``python``) is judged by its target and
    by the folder that holds the link."""
    try:
        real = Path(os.path.realpath(program))
        reason = platform.writable_by_others(real)
        if reason is None and real != program:
            reason = platform.replaceable_by_others(program.parent)
            reason = reason or platform.others_may_write(program.parent)
    except OSError as exc:
        return str(exc)
    return reason
