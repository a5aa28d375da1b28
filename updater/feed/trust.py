"""The trust layer: python-tuf's client, adapted to our feed layout and our errors.

A feed is a TUF repository: ``<base>/metadata/`` holds the signed roles and
``<base>/targets/`` holds the release manifests, file lists and packages as TUF
targets (content-addressed: consistent snapshots). Everything the updater reads from
a feed goes through :class:`TrustedFeed`, which uses only python-tuf's public API:
``Updater(..., bootstrap=root_bytes, fetcher=ours)``, ``refresh()``,
``get_targetinfo()``, ``find_cached_target()`` and ``download_target()``. One
``TrustedFeed`` serves one check, because ``refresh()`` runs once per ``Updater``.

Every python-tuf exception is turned here into an error of :mod:`updater.errors`, with
a sentence a person understands and the original kept as ``__cause__``.
"""

from __future__ import annotations

import contextlib
import logging
from datetime import datetime
from pathlib import Path
from typing import NoReturn

import requests
from tuf.api import exceptions as tuf_errors
from tuf.api.metadata import Metadata, TargetFile
from tuf.api.serialization import DeserializationError
from tuf.ngclient import FetcherInterface, Updater, UpdaterConfig

from updater.errors import (
    ConfigError,
    ExpiredMetadataError,
    HTTPStatusError,
    IntegrityError,
    ManifestError,
    MetadataTooLargeError,
    NetworkError,
    RollbackError,
    SignatureError,
    SlowRetrievalError,
    StorageError,
    TargetMismatchError,
    TrustError,
    UnknownTargetError,
    UpdaterError,
)
from updater.feed.download import CancelToken, ProgressCallback, download_target, target_url
from updater.feed.fetch import FeedFetcher, NetworkLimits
from updater.feed.manifest import Manifest, TargetRef, parse_manifest
from updater.i18n import _

log = logging.getLogger(__name__)

METADATA_DIR = "metadata"
TARGETS_DIR = "targets"
_ROLES = ("root", "timestamp", "snapshot", "targets")


def manifest_target(channel: str) -> str:
    """The TUF target path of a channel's release manifest."""
    return f"manifests/{channel}.json"


def archive_target(channel: str) -> str:
    """The TUF target path of a channel's archive: the releases too old for its
    manifest (``docs/manifest.md``); a feed without older releases has none."""
    return f"manifests/{channel}.archive.json"


def default_tuf_config() -> UpdaterConfig:
    """python-tuf's limits as we use them (its defaults are already sensible)."""
    return UpdaterConfig(app_user_agent=None)


class TrustedFeed:
    """One verified session with a feed: refresh its metadata, then read its targets.

    Args:
        base_url: the feed's base URL (``http(s)://`` or ``file:``), ending with ``/``.
        cache_dir: a directory of ours; python-tuf keeps the last trusted metadata in
            ``cache_dir/metadata`` (it is what rollback protection compares against).
        trusted_root: the feed's root of trust (``root.json`` bytes) from the machine's
            configuration; it is only the starting point, newer roots are found and
            verified by python-tuf.
        fetcher: the network boundary (``updater.feed.fetch.FeedFetcher``).
        metadata_url: where the metadata is, when not ``base_url`` + ``metadata/``
            (the release tool uses it to verify metadata before publishing it).

    Raises:
        ConfigError: ``trusted_root`` is not a valid TUF root.
        StorageError: the cache directory cannot be written.
    """

    def __init__(
        self,
        *,
        base_url: str,
        cache_dir: Path,
        trusted_root: bytes,
        fetcher: FetcherInterface,
        config: UpdaterConfig | None = None,
        metadata_url: str | None = None,
    ) -> None:
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.metadata_url = metadata_url or self.base_url + METADATA_DIR + "/"
        self.cache_dir = cache_dir
        self._fetcher = fetcher
        metadata_dir = cache_dir / METADATA_DIR
        self._targets_dir = cache_dir / TARGETS_DIR
        try:
            metadata_dir.mkdir(parents=True, exist_ok=True)
            self._targets_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(
                _("Cannot write to the updater's folder {path}: {error}").format(
                    path=cache_dir, error=exc.strerror or exc
                ),
                hint=_("Check the disk space and the folder's permissions."),
            ) from exc
        try:
            self._updater = Updater(
                metadata_dir=str(metadata_dir),
                metadata_base_url=self.metadata_url,
                target_dir=str(self._targets_dir),
                target_base_url=self.base_url + TARGETS_DIR + "/",
                fetcher=fetcher,
                config=config or default_tuf_config(),
                bootstrap=trusted_root,
            )
        except tuf_errors.RepositoryError as exc:
            raise ConfigError(
                _("The configured root of trust (root.json) is not valid: {error}").format(
                    error=exc
                ),
                hint=_("Reinstall the updater or ask support for the right root.json."),
            ) from exc
        except OSError as exc:
            raise StorageError(
                _("Cannot write to the updater's folder {path}: {error}").format(
                    path=cache_dir, error=exc.strerror or exc
                )
            ) from exc
        self._refreshed = False

    # -- metadata ------------------------------------------------------------------------

    def refresh(self) -> None:
        """Download and verify the feed's top-level metadata (root, timestamp, snapshot, targets).

        Raises:
            TrustError: (a subclass naming the cause) signatures, expiry, rollback, size.
            NetworkError: the feed could not be reached or was too slow.
            StorageError: the metadata cache could not be written.
        """
        if self._refreshed:
            return
        try:
            self._updater.refresh()
        except (tuf_errors.RepositoryError, tuf_errors.DownloadError, OSError) as exc:
            self._raise_converted(exc, what=_("the update information"))
        self._refreshed = True

    def targetinfo(self, target_path: str) -> TargetFile:
        """The signed description (length and hashes) of one target.

        Raises:
            UnknownTargetError: the signed metadata does not list ``target_path``.
            TrustError, NetworkError, StorageError: as :meth:`refresh`.
        """
        self.refresh()
        try:
            info = self._updater.get_targetinfo(target_path)
        except (tuf_errors.RepositoryError, tuf_errors.DownloadError, OSError) as exc:
            self._raise_converted(exc, what=_("the update information"))
        if info is None:
            raise UnknownTargetError(
                _("The feed does not list the file {target} in its signed metadata.").format(
                    target=target_path
                ),
                hint=_("Nothing was changed. The publisher must republish the feed."),
            )
        return info

    # -- targets -------------------------------------------------------------------------

    def read_target(self, target_path: str, *, what: str) -> bytes:
        """Download (or take from the cache) a small target and return its verified bytes.

        Raises:
            TargetMismatchError: its length or hash differs from the signed metadata.
            UnknownTargetError, TrustError, NetworkError, StorageError.
        """
        info = self.targetinfo(target_path)
        try:
            path = self._updater.find_cached_target(info)
            if path is None:
                path = self._updater.download_target(info)
            return Path(path).read_bytes()
        except (tuf_errors.RepositoryError, tuf_errors.DownloadError, OSError) as exc:
            self._raise_converted(exc, what=what, target=True)

    def manifest(self, channel: str) -> Manifest:
        """The verified release manifest of ``channel``.

        Raises:
            ManifestError: the verified document is not a valid manifest of ``channel``.
            TargetMismatchError: the manifest does not match what the publisher signed,
                or it refers to files whose size or hash the signed metadata contradicts.
            UnknownTargetError: the feed has no such channel or lists unsigned files.
            TrustError, NetworkError, StorageError: as :meth:`refresh`.
        """
        return parse_manifest(self.manifest_bytes(channel), expected_channel=channel)

    def manifest_bytes(self, channel: str) -> bytes:
        """The verified bytes of the release manifest of ``channel``.

        Raises:
            as :meth:`manifest`, except ManifestError.
        """
        return self.read_target(manifest_target(channel), what=_("the release manifest"))

    def archive_bytes(self, channel: str) -> bytes | None:
        """The verified bytes of ``channel``'s archive, or None when the signed metadata
        lists none (every release is in the manifest). Downloaded only when it changed
        since the last time (python-tuf's target cache).

        Raises:
            as :meth:`manifest_bytes`.
        """
        try:
            self.targetinfo(archive_target(channel))
        except UnknownTargetError:
            return None
        return self.read_target(archive_target(channel), what=_("the archive of older releases"))

    def full_manifest(self, channel: str) -> Manifest:
        """The verified manifest of ``channel`` with every older release of its archive.

        Raises:
            as :meth:`manifest`.
        """
        manifest = self.manifest(channel)
        archive = self.archive_bytes(channel)
        if archive is None:
            return manifest
        return manifest.with_archive(parse_manifest(archive, expected_channel=channel))

    def check_ref(self, ref: TargetRef) -> TargetFile:
        """The signed description of ``ref``, proven to agree with what the manifest says.

        Raises:
            TargetMismatchError: size or SHA-256 in the manifest differ from the signed
                targets metadata (a mix-and-match of manifest and metadata).
            UnknownTargetError, TrustError, NetworkError, StorageError.
        """
        info = self.targetinfo(ref.target)
        if info.length != ref.size or info.hashes.get("sha256") != ref.sha256:
            raise TargetMismatchError(
                _(
                    "The release manifest and the feed's signed metadata disagree about {target}."
                ).format(target=ref.target),
                hint=_("Nothing was changed. The publisher must republish the feed."),
            )
        return info

    def download(
        self,
        ref: TargetRef,
        dest: Path,
        *,
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> Path:
        """Download the target ``ref`` to ``dest``, verified against the signed metadata.

        The length and SHA-256 come from python-tuf's verified targets metadata
        (:meth:`check_ref`); :func:`updater.feed.download.download_target` streams, resumes
        and verifies against them. A download that fails on the network or is cancelled
        leaves ``dest.partial`` for the next attempt to resume; a wrong file is deleted.
        Nothing is ever left at ``dest`` that is not the signed file.

        Raises:
            IntegrityError: the file's length or hash is wrong.
            NetworkError, SlowRetrievalError, CancelledError, StorageError.
            TargetMismatchError, UnknownTargetError, TrustError: as :meth:`check_ref`.
        """
        info = self.check_ref(ref)
        sha256 = info.hashes["sha256"]
        url = target_url(self.base_url + TARGETS_DIR + "/", info.path, sha256)
        session = self._fetcher.session if isinstance(self._fetcher, FeedFetcher) else None
        limits = self._fetcher.limits if isinstance(self._fetcher, FeedFetcher) else None
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            self._raise_converted(exc, what=ref.target, target=True, package=True)
        return download_target(
            session or requests.Session(),
            url,
            dest,
            length=info.length,
            sha256=sha256,
            limits=limits or NetworkLimits(),
            progress=progress,
            cancel=cancel,
        )

    # -- error conversion ----------------------------------------------------------------

    def _raise_converted(
        self, exc: BaseException, *, what: str, target: bool = False, package: bool = False
    ) -> NoReturn:
        """Turn a python-tuf, network or OS exception into ours and raise it."""
        raise _convert(exc, what=what, target=target, package=package, feed=self) from exc

    def trusted_until(self) -> datetime | None:
        """The earliest expiry of the top-level metadata this check verified (after
        :meth:`refresh`): until then, what it says may be shown while offline."""
        expiries = []
        for role in _ROLES:
            try:
                md = Metadata.from_file(str(self._cached(role)))
            except Exception:  # not refreshed yet, or not persisted: unknown
                return None
            expiries.append(md.signed.expires)
        return min(expiries)

    def _cached(self, role: str) -> Path:
        """The cached copy of ``role``'s metadata. python-tuf keeps every root as
        ``root_history/N.root.json`` and points ``root.json`` at the newest with a link;
        where no link was made (Wine, for one, reports a symbolic link made and makes
        none), the newest of that history is the root."""
        folder = self.cache_dir / METADATA_DIR
        path = folder / f"{role}.json"
        if role != "root" or path.exists():
            return path
        history = [
            (int(version), found)
            for found in (folder / "root_history").glob("*.root.json")
            if (version := found.name.split(".", 1)[0]).isdigit()
        ]
        return max(history)[1] if history else path

    def expiry_of(self, role: str) -> datetime | None:
        """When the last copy of ``role`` we saw expires(d), for messages only; never trusted."""
        candidates = [self._cached(role)]
        data: bytes | None = None
        if role == "timestamp":
            with contextlib.suppress(Exception):
                data = self._fetcher.download_bytes(
                    self.metadata_url.rstrip("/") + "/timestamp.json", 16384
                )
        for candidate in candidates:
            if data is not None:
                break
            with contextlib.suppress(OSError):
                data = candidate.read_bytes()
        if data is None:
            return None
        try:
            return Metadata.from_bytes(data).signed.expires
        except Exception:  # only used to word a message, never trusted
            return None


def _convert(
    exc: BaseException, *, what: str, target: bool, package: bool, feed: TrustedFeed
) -> UpdaterError:
    nothing = _("Nothing was changed.")
    if isinstance(exc, tuf_errors.UnsignedMetadataError):
        return SignatureError(
            _(
                "The update information is not signed by enough valid InnovaCommerce keys, "
                "so it was refused."
            ),
            hint=nothing
            + " "
            + _("If this keeps happening, contact support: the connection may be tampered with."),
        )
    if isinstance(exc, tuf_errors.ExpiredMetadataError):
        role = next((r for r in _ROLES if r in str(exc)), "timestamp")
        when = feed.expiry_of(role)
        if when is not None:
            message = _("The update information expired on {when}, so it was refused.").format(
                when=when.strftime("%Y-%m-%d %H:%M UTC")
            )
        else:
            message = _("The update information has expired, so it was refused.")
        return ExpiredMetadataError(
            message,
            hint=nothing
            + " "
            + _(
                "Check that this PC's date and time are correct. If they are, the feed "
                "has not been renewed by the publisher: contact support."
            ),
            expired_at=when,
        )
    if isinstance(exc, tuf_errors.BadVersionNumberError):
        return RollbackError(
            _(
                "The update server offered older update information than this PC has "
                "already seen, so it was refused."
            ),
            hint=nothing
            + " "
            + _("An outdated mirror or an attack can cause this; try again later."),
        )
    if isinstance(exc, tuf_errors.LengthOrHashMismatchError):
        if package:
            return IntegrityError(
                _("The downloaded file {what} is not the one the publisher signed.").format(
                    what=what
                ),
                hint=nothing + " " + _("The download may be damaged; try again later."),
            )
        return TargetMismatchError(
            _("{what} does not match what the publisher signed, so it was refused.").format(
                what=_capitalise(what)
            ),
            hint=nothing,
        )
    if isinstance(exc, tuf_errors.DownloadLengthMismatchError):
        if package:
            return IntegrityError(
                _("The file {what} is larger than the publisher signed; it was refused.").format(
                    what=what
                ),
                hint=nothing,
            )
        if target:
            return TargetMismatchError(
                _("{what} is larger than the publisher signed, so it was refused.").format(
                    what=_capitalise(what)
                ),
                hint=nothing,
            )
        return MetadataTooLargeError(
            _("The update server sent more data than allowed, so it was refused."),
            hint=nothing,
        )
    if isinstance(exc, tuf_errors.SlowRetrievalError):
        return SlowRetrievalError(
            _("The update server is answering too slowly; the download was stopped."),
            hint=nothing + " " + _("Check the internet connection and try again later."),
        )
    if isinstance(exc, tuf_errors.DownloadHTTPError):
        if exc.status_code == 404 and target:
            return NetworkError(
                _("The file {what} is missing on the update server (error 404).").format(what=what),
                hint=nothing + " " + _("The publisher must complete the feed; try again later."),
            )
        if exc.status_code == 404:
            return TrustError(
                _("The update server does not have the expected update information (error 404)."),
                hint=_(
                    "Check the feed address in the configuration; if the feed is being "
                    "uploaded, try again later."
                ),
            )
        return HTTPStatusError(
            _("The update server answered with error {status}.").format(status=exc.status_code),
            hint=_("Try again later."),
            status=exc.status_code,
            retry_after=getattr(exc, "retry_after", None),
        )
    if isinstance(exc, tuf_errors.DownloadError):
        return NetworkError(
            _("The update server could not be reached: {detail}").format(detail=exc),
            hint=_("Check the internet connection and try again later."),
        )
    if isinstance(exc, DeserializationError):
        return ManifestError(
            _("The update server answered with something that is not a release manifest."),
            hint=_(
                "A proxy, firewall or hotspot login page may be in the way; check the "
                "internet connection and try again."
            ),
        )
    if isinstance(exc, tuf_errors.RepositoryError):
        return TrustError(
            _("The update information could not be verified: {detail}").format(detail=exc),
            hint=nothing,
        )
    if isinstance(exc, OSError):
        return StorageError(
            _("Cannot write to the updater's folder: {error}").format(error=exc.strerror or exc),
            hint=_("Check the disk space and the folder's permissions."),
        )
    return UpdaterError(str(exc))


def _capitalise(text: str) -> str:
    return text[:1].upper() + text[1:]
