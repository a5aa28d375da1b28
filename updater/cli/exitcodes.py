"""The exit codes of ``innova-update``: stable forever, documented in docs/cli.md.

Codes that deployment tools already understand keep their Windows meaning (msiexec's
3010, 1618 and 1602; ``dnf check-update``'s 100). The updater's own failures use the
range 20-29. On POSIX a process exit status only keeps its low 8 bits, so there 3010,
1618 and 1602 read as 194, 82 and 66; the updater is made for Windows, where they are
reported whole.
"""

from __future__ import annotations

from enum import IntEnum

from updater.errors import (
    AppRunningError,
    ArchiveError,
    BusyError,
    CancelledError,
    ConfigError,
    FileLockedError,
    IntegrityError,
    ManifestError,
    NetworkError,
    PreflightError,
    RollbackFailedError,
    RolledBackError,
    StorageError,
    TrustError,
    UpdaterError,
)


class Exit(IntEnum):
    """Every exit code, with its meaning."""

    OK = 0  # success, or nothing to do
    INTERNAL = 1  # an unexpected error (a bug): see the log
    UPDATES_AVAILABLE = 100  # `check` found updates
    REBOOT_REQUIRED = 3010  # success; a reboot is pending (as msiexec)
    BUSY = 1618  # another update is in progress: retry later (as msiexec)
    CANCELLED = 1602  # cancelled by the user (as msiexec)
    USAGE = 20  # wrong command line or configuration
    UNTRUSTED = 21  # the feed's signed information was refused
    NETWORK = 22  # the feed could not be reached
    INTEGRITY = 23  # a package does not match what the publisher signed
    APP_RUNNING = 24  # the program runs (or holds a file) and was not closed
    PREFLIGHT = 25  # a check before the update failed (disk space, rights...)
    ROLLED_BACK = 26  # the update failed; the previous version is intact
    ROLLBACK_FAILED = 27  # the update failed and the rollback too: a technician is needed
    FAILED = 28  # the update failed before anything changed (e.g. a hook)


#: How bad each outcome is, to choose one code when several products were updated.
SEVERITY = [
    Exit.OK,
    Exit.UPDATES_AVAILABLE,
    Exit.REBOOT_REQUIRED,
    Exit.CANCELLED,
    Exit.BUSY,
    Exit.NETWORK,
    Exit.APP_RUNNING,
    Exit.PREFLIGHT,
    Exit.FAILED,
    Exit.USAGE,
    Exit.INTEGRITY,
    Exit.UNTRUSTED,
    Exit.ROLLED_BACK,
    Exit.INTERNAL,
    Exit.ROLLBACK_FAILED,
]


def worst(codes: list[Exit]) -> Exit:
    """The most serious of several outcomes (OK when there are none)."""
    return max(codes, key=SEVERITY.index, default=Exit.OK)


def exit_code_for(error: BaseException) -> Exit:
    """The exit code that reports ``error``."""
    table: list[tuple[type[BaseException], Exit]] = [
        (RollbackFailedError, Exit.ROLLBACK_FAILED),
        (RolledBackError, Exit.ROLLED_BACK),
        (BusyError, Exit.BUSY),
        (CancelledError, Exit.CANCELLED),
        (KeyboardInterrupt, Exit.CANCELLED),
        (ConfigError, Exit.USAGE),
        (AppRunningError, Exit.APP_RUNNING),
        (FileLockedError, Exit.APP_RUNNING),
        (PreflightError, Exit.PREFLIGHT),
        (StorageError, Exit.PREFLIGHT),
        (IntegrityError, Exit.INTEGRITY),
        (ArchiveError, Exit.INTEGRITY),
        (TrustError, Exit.UNTRUSTED),
        (ManifestError, Exit.UNTRUSTED),
        (NetworkError, Exit.NETWORK),
        (UpdaterError, Exit.FAILED),
    ]
    for kind, code in table:
        if isinstance(error, kind):
            return code
    return Exit.INTERNAL
