"""The typed error tree of the updater, grouped by the stage that failed.

Every error carries a sentence for a person (already translated) and, where there is
one, a hint saying what they can do. Foreign exceptions (python-tuf, requests,
OSError, zipfile) are converted into these at the boundary where they enter, with the
original kept as ``__cause__``. The CLI maps the classes to exit codes and the GUI maps
them to messages; the engine only raises them.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import ClassVar


class UpdaterError(Exception):
    """Base of every error the updater raises on purpose."""

    #: Stable machine-readable identifier, used in JSON output and logs.
    code: ClassVar[str] = "error"

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} {self.hint}" if self.hint else self.message


# --- configuration and usage ------------------------------------------------------------


class ConfigError(UpdaterError):
    """The configuration or the command line is wrong."""

    code = "config"


# --- the feed: trust, manifest, network --------------------------------------------------


class FeedError(UpdaterError):
    """Something about the release feed prevents a check or an update."""

    code = "feed"


class TrustError(FeedError):
    """The feed's signed metadata cannot be trusted; nothing from it is used."""

    code = "untrusted"


class SignatureError(TrustError):
    """Metadata has bad, missing, or too few valid signatures."""

    code = "untrusted.signature"


class ExpiredMetadataError(TrustError):
    """Signed metadata has expired (or the PC's clock is wrong)."""

    code = "untrusted.expired"

    def __init__(
        self, message: str, *, hint: str | None = None, expired_at: datetime | None = None
    ) -> None:
        super().__init__(message, hint=hint)
        self.expired_at = expired_at


class RollbackError(TrustError):
    """The feed offered metadata older than what this PC already trusts."""

    code = "untrusted.rollback"


class MetadataTooLargeError(TrustError):
    """A metadata file was larger than the limit allowed for it."""

    code = "untrusted.too_large"


class TargetMismatchError(TrustError):
    """A signed file (such as the release manifest) had the wrong length or hash."""

    code = "untrusted.mismatch"


class UnknownTargetError(TrustError):
    """A file was asked for that the signed metadata does not list."""

    code = "untrusted.unknown_target"


class ManifestError(FeedError):
    """The release manifest is malformed, inconsistent, or not a manifest at all."""

    code = "manifest"


class NetworkError(FeedError):
    """The feed could not be reached or stopped answering."""

    code = "network"


class HTTPStatusError(NetworkError):
    """The server answered with an error status.

    Attributes:
        status: The HTTP status code.
        retry_after: Seconds the server asked to wait before trying again
            (``Retry-After`` on a 429 or 503), or None.
    """

    code = "network.http"

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        status: int,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.status = status
        self.retry_after = retry_after


class SlowRetrievalError(NetworkError):
    """The server sent data too slowly or took too long in total."""

    code = "network.slow"


# --- packages -----------------------------------------------------------------------------


class IntegrityError(UpdaterError):
    """A downloaded package does not match what the signed feed says it is."""

    code = "integrity"


class ArchiveError(UpdaterError):
    """A zip archive is corrupt, hostile, or breaks a limit; nothing from it is used."""

    code = "archive"


class StorageError(UpdaterError):
    """A file of the updater's own could not be read or written (disk full, permissions)."""

    code = "storage"


# --- the publisher's tool -----------------------------------------------------------------


class PublishError(UpdaterError):
    """The release tool cannot do what was asked; the feed is unchanged."""

    code = "publish"


class SigningKeyError(PublishError):
    """A signing key is missing, unreadable, or protected by another passphrase."""

    code = "publish.key"


# --- installing ---------------------------------------------------------------------------


class InstallError(UpdaterError):
    """An update could not be put in place, or the installed program is not right."""

    code = "install"


class AppRunningError(InstallError):
    """The program to update is still running and could not be closed."""

    code = "install.app_running"

    def __init__(
        self, message: str, *, hint: str | None = None, processes: tuple[int, ...] = ()
    ) -> None:
        super().__init__(message, hint=hint)
        #: Process ids still running from the program's folder.
        self.processes = processes


class HealthCheckError(InstallError):
    """The program did not pass its check after an update (wrong version, failed self-test)."""

    code = "install.health"

    def __init__(
        self, message: str, *, hint: str | None = None, details: str = "", output: str = ""
    ) -> None:
        super().__init__(message, hint=hint)
        #: Technical details for the log and for support (command, exit code, duration).
        self.details = details
        #: The last lines the check printed: kept apart, for administrators only (they
        #: may hold anything, secrets included; the history and the logs are readable
        #: by users).
        self.output = output


class FileLockedError(InstallError):
    """A file or folder stayed in use by another program, so it could not be replaced."""

    code = "install.locked"

    def __init__(self, message: str, *, hint: str | None = None, path: Path) -> None:
        super().__init__(message, hint=hint)
        #: The file or folder that was in use.
        self.path = path


class BusyError(UpdaterError):
    """Another update is in progress: the state directory is locked by someone else."""

    code = "busy"


class PreflightError(InstallError):
    """A check before the update failed (disk space, write access, compatibility);
    nothing was changed."""

    code = "install.preflight"


class CancelledError(UpdaterError):
    """The person cancelled before the update reached the point of no return."""

    code = "cancelled"


class RolledBackError(InstallError):
    """The update failed and the previous version was restored: everything is as it was."""

    code = "install.rolled_back"


class RollbackFailedError(InstallError):
    """The update failed and the previous version could not be restored: a technician
    is needed. The journal stays, so the next run tries to recover again."""

    code = "install.rollback_failed"
