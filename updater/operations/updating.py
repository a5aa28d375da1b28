"""Updates: from the release a check offers to the new version installed, or the old one back.

:func:`update` chooses the release (or the one asked for), runs every check that can
fail before anything changes (write access, disk space, the program running, commands
SYSTEM must not run), downloads the signed file list and the package (a delta when it
saves enough, the full package when the delta fails), and applies it as one
transaction: stage, snapshot, close the program, swap or run the installer, hooks,
health check, commit. A failure is undone and recorded by :func:`after_failure`, which
restoring shares with :func:`ensure_closed`. Handing an update over to the elevated
updater is :mod:`.handover`'s.

May import: the feed and install sides, the machine, the foundation, the core and the
operations' ``context``, ``results``, ``commands`` and ``checking``.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
from pathlib import Path
from typing import Literal

from packaging.version import Version

from updater.errors import (
    AppRunningError,
    CancelledError,
    FeedError,
    IntegrityError,
    ManifestError,
    PreflightError,
    RollbackFailedError,
    RolledBackError,
    UpdaterError,
)
from updater.feed.choose import Choice, Only
from updater.feed.download import CancelToken, DownloadProgress
from updater.feed.manifest import DeltaRef, InstallerPackage, Release, TargetRef, ZipPackage
from updater.feed.trust import TrustedFeed
from updater.fsutil import write_probe
from updater.i18n import _, format_size
from updater.install.delta import DELTA_MAX_SHARE, DeltaBaseError
from updater.install.filelist import FileList
from updater.install.health import check_health
from updater.install.transaction import (
    Entry,
    UpdateTransaction,
    describe_size,
    prune_snapshots,
    refuse_replaceable,
    same_volume,
)
from updater.machine.config import ProductConfig
from updater.machine.history import History, Operation, Outcome
from updater.observer import Step
from updater.operations.checking import archive_online, choose_for, verified_manifest
from updater.operations.commands import (
    hook_quietly,
    keep_output,
    refuse_unsafe_commands,
    run_hook,
)
from updater.operations.context import OperationContext, megabytes
from updater.operations.results import IfRunning, UpdateResult

__all__ = ["INSTALLER_TIMEOUT", "after_failure", "ensure_closed", "update"]

log = logging.getLogger(__name__)

#: The longest an installer package may run (seconds).
INSTALLER_TIMEOUT = 1800.0
_SPACE_MARGIN = 50 * 1024 * 1024


def update(
    ctx: OperationContext,
    product: ProductConfig,
    target: Version | None = None,
    *,
    only: Only = "all",
    if_running: IfRunning = "fail",
    wait_seconds: float = 300.0,
    ignore_rollout: bool = False,
    dry_run: bool = False,
) -> UpdateResult:
    """Update here, under the lock (see :meth:`updater.service.UpdaterService.update`);
    ``target`` is the version asked for, None for the one a check offers."""
    with ctx.locked() as history:
        feed, manifest = verified_manifest(ctx)
        choice = choose_for(
            ctx,
            manifest,
            product,
            only=only,
            to_version=target,
            ignore_rollout=ignore_rollout,
            older=archive_online(ctx, feed, manifest),
        )
        if choice.offer is None:
            if target is not None:
                reasons = [n.reason for n in choice.not_offered] or [_("there is no such release")]
                raise PreflightError(
                    _("{product} {version} cannot be installed: {reason}.").format(
                        product=product.name, version=target, reason=reasons[0]
                    )
                )
            return UpdateResult(product.id, "nothing_to_do", choice.installed, None, choice)
        release = choice.offer
        _preflight(ctx, product, release, if_running, wait_seconds)
        if dry_run:
            return UpdateResult(product.id, "dry_run", choice.installed, release.version, choice)
        return _apply(ctx, feed, history, product, choice, release, if_running, wait_seconds)


def _apply(
    ctx: OperationContext,
    feed: TrustedFeed,
    history: History,
    product: ProductConfig,
    choice: Choice,
    release: Release,
    if_running: IfRunning,
    wait_seconds: float,
) -> UpdateResult:
    package = release.zip_package or release.installer_package
    assert package is not None  # the schema requires at least one package
    from_version = str(choice.installed) if choice.installed else None
    entry = history.start(Operation.UPDATE, product.id, from_version, str(release.version))
    name = package.target.rsplit("/", 1)[-1]
    download = ctx.state.downloads / f"{product.id}-{release.version}-{name}"
    delta_ref = (
        _worth_it(package.delta_from(choice.installed), package)
        if isinstance(package, ZipPackage)
        else None
    )
    delta_file = ctx.state.downloads / f"{product.id}-{release.version}.delta.zip"
    tx: UpdateTransaction | None = None
    reboot = False
    method: Literal["full", "delta", "installer"] = (
        "installer" if isinstance(package, InstallerPackage) else "full"
    )
    downloaded = 0
    try:
        token = CancelToken()

        def fetch(ref: TargetRef, dest: Path) -> None:
            def on_progress(done: DownloadProgress) -> None:
                ctx.observer.progress(product.id, Step.DOWNLOAD, done.done, done.total, done.rate)
                if ctx.observer.cancelled():
                    token.cancel()

            ctx.observer.step(product.id, Step.DOWNLOAD)
            feed.download(ref, dest, progress=on_progress, cancel=token)

        file_list = None
        if isinstance(package, ZipPackage):
            file_list = _file_list(feed, product, release, package)
        if delta_ref is not None:
            try:
                fetch(delta_ref, delta_file)
                downloaded += delta_ref.size
            except (FeedError, IntegrityError) as exc:
                log.warning("The delta package was refused, using the full one: %s", exc)
                delta_ref = None
        if delta_ref is None:
            fetch(package, download)
            downloaded += package.size
        tx = UpdateTransaction.begin(
            journal_dir=ctx.state.journal_dir,
            snapshots_root=ctx.state.snapshots_dir,
            product=product.id,
            install_dir=product.install_dir,
            from_version=from_version,
            to_version=str(release.version),
            data_paths=product.data_paths,
            observer=ctx.observer,
            reason=_("before the update to {version}").format(version=release.version),
            method="zip" if file_list is not None else "installer",
            registry_key=product.version.registry_key,
            platform=ctx.platform,
        )
        if file_list is not None and delta_ref is not None:
            try:
                tx.stage_delta(delta_file, file_list)
                method = "delta"
            except (DeltaBaseError, IntegrityError) as exc:
                # E.g. the install was changed by hand: the full package still works.
                log.warning("The delta could not be applied, using the full package: %s", exc)
                fetch(package, download)
                downloaded += package.size
                tx.stage(download, file_list)
        elif file_list is not None:
            tx.stage(download, file_list)
        else:
            tx.stage_installer(download)
        _check_cancelled(ctx)
        run_hook(ctx, product, "pre_snapshot")
        tx.snapshot()
        _check_cancelled(ctx)
        ensure_closed(ctx, product, if_running, wait_seconds)
        if isinstance(package, InstallerPackage):
            reboot = tx.run_installer(
                download,
                fmt=package.format,
                args=package.silent_args,
                success_codes=package.success_exit_codes,
                reboot_codes=package.reboot_exit_codes,
                timeout=INSTALLER_TIMEOUT,
            )
        else:
            tx.swap()
        run_hook(ctx, product, "post_swap")
        ctx.observer.step(product.id, Step.HEALTH_CHECK)
        check_health(
            product.expand(product.health_check.command) if product.health_check.command else None,
            timeout=product.health_check.timeout,
            expected_version=release.version,
            read_version=lambda: ctx.installed_version(product),
            cwd=product.install_dir,
        )
        tx.mark_healthy()
        tx.commit()
    except BaseException as exc:
        after_failure(ctx, history, entry, product, tx, exc)  # raises when rolled back
        raise  # nothing was changed: the original error is the right one
    finally:
        for leftover in (download, delta_file):
            with contextlib.suppress(OSError):
                leftover.unlink()
    for stale in ctx.state.downloads.glob("*.partial*"):  # other releases' leftovers
        with contextlib.suppress(OSError):
            stale.unlink()
    prune_snapshots(
        ctx.state.snapshots_dir,
        product.id,
        keep=ctx.config.retention.keep,
        max_bytes=megabytes(ctx.config.retention.max_disk_mb),
    )
    history.finish(
        entry, Outcome.SUCCESS, message=_describe_method(method, downloaded, package.size)
    )
    return UpdateResult(
        product.id, "updated", choice.installed, release.version, choice, reboot,
        method=method, downloaded_bytes=downloaded,
    )  # fmt: skip


def _file_list(
    feed: TrustedFeed, product: ProductConfig, release: Release, package: ZipPackage
) -> FileList:
    """The release's signed file list, proven to agree with the manifest's counts."""
    file_list = FileList.from_json(
        feed.read_target(package.file_list.target, what=package.file_list.target)
    )
    if (file_list.file_count, file_list.installed_size) != (
        package.file_count,
        package.installed_size,
    ):
        raise ManifestError(
            _("The file list of {product} {version} does not match the manifest.").format(
                product=product.name, version=release.version
            )
        )
    return file_list


def after_failure(
    ctx: OperationContext,
    history: History,
    entry: int,
    product: ProductConfig,
    tx: UpdateTransaction | None,
    exc: BaseException,
) -> None:
    """Undo a failed update (or restore), record it, and raise what the caller must see."""
    try:
        outcome = tx.abort_or_roll_back() if tx is not None else Entry.ABORTED
    except UpdaterError as undo_error:
        history.finish(
            entry, Outcome.ROLLBACK_FAILED, error_code=undo_error.code,
            message=undo_error.message, details=str(exc),
        )  # fmt: skip
        raise RollbackFailedError(
            _(
                "The update of {product} failed and the previous version could not be "
                "restored: {error}"
            ).format(product=product.name, error=undo_error.message),
            hint=_("Do not use the program; contact InnovaCommerce support."),
        ) from exc
    code = exc.code if isinstance(exc, UpdaterError) else type(exc).__name__
    message = exc.message if isinstance(exc, UpdaterError) else str(exc)
    details = getattr(exc, "details", None)
    if output := getattr(exc, "output", ""):
        details = "\n".join(
            filter(None, [details, keep_output(ctx, product, "health_check", output)])
        )
    if outcome == Entry.ROLLED_BACK:
        hook_note = hook_quietly(ctx, product, "post_restore")
        history.finish(
            entry, Outcome.ROLLED_BACK, error_code=code, message=message,
            details="\n".join(filter(None, [details, hook_note])) or None,
        )  # fmt: skip
        raise RolledBackError(
            _(
                "The update could not be installed. Your previous version has been "
                "restored and everything is as it was. You can try again later."
            ),
            hint=_("What went wrong: {error}").format(error=message),
        ) from exc
    cancelled = isinstance(exc, (CancelledError, KeyboardInterrupt))
    history.finish(
        entry, Outcome.CANCELLED if cancelled else Outcome.FAILED,
        error_code=code, message=message, details=details,
    )  # fmt: skip
    if isinstance(exc, KeyboardInterrupt):
        raise CancelledError(_("The update was cancelled; nothing was changed.")) from exc


# ------------------------------------------------------------------- preflight


def _preflight(
    ctx: OperationContext,
    product: ProductConfig,
    release: Release,
    if_running: IfRunning,
    wait: float,
) -> None:
    """Every check that can fail before anything changes.

    Raises:
        PreflightError: no write access, not enough disk space.
        AppRunningError: the program runs and the policy is ``fail``.
    """
    ctx.observer.step(product.id, Step.PREFLIGHT)
    refuse_replaceable([product.install_dir, *product.data_paths], ctx.platform)
    refuse_unsafe_commands(ctx, product)
    zip_package = release.zip_package
    installer = release.installer_package
    install_parent = product.install_dir.parent
    for folder in (install_parent, ctx.state.root):
        _check_writable(folder)
    program_size = describe_size(product.install_dir)
    data_size = sum(describe_size(p) for p in product.data_paths)
    ctx.state.snapshots_dir.mkdir(parents=True, exist_ok=True)
    other_volume = not same_volume(install_parent, ctx.state.snapshots_dir)
    if zip_package is not None:
        needs = {
            install_parent: zip_package.installed_size,  # staging
            ctx.state.root: zip_package.size
            + data_size
            + (program_size if other_volume else 0),  # download + snapshot copies
        }
    else:
        assert installer is not None
        needs = {
            install_parent: program_size,  # what the installer may write, roughly
            ctx.state.root: installer.size + data_size + program_size,
        }
    if same_volume(install_parent, ctx.state.root):
        needs = {install_parent: sum(needs.values())}
    for folder, size in needs.items():
        free = shutil.disk_usage(folder).free
        if free < size + _SPACE_MARGIN:
            raise PreflightError(
                _(
                    "Not enough disk space in {folder}: the update needs {needed} MB "
                    "and {free} MB are free."
                ).format(
                    folder=folder,
                    needed=(size + _SPACE_MARGIN) // 2**20,
                    free=free // 2**20,
                ),
                hint=_("Free some disk space and try again; nothing was changed."),
            )
    if if_running == "fail":
        ensure_closed(ctx, product, "fail", 0)


def ensure_closed(
    ctx: OperationContext, product: ProductConfig, if_running: IfRunning, wait: float
) -> None:
    """Make sure the program does not run: wait for it or close it, as ``if_running`` says.

    Raises:
        AppRunningError: it still runs; nothing was changed.
    """
    running = ctx.platform.find_processes(product.install_dir)
    if not running:
        return
    if if_running == "wait":
        running = ctx.platform.wait_for_exit(product.install_dir, wait)
    elif if_running == "close":
        running = ctx.platform.close_processes(
            running, graceful_timeout=min(wait, 30.0), force=True
        )
    if running:
        raise AppRunningError(
            _("{product} is running; close it to update it.").format(product=product.name),
            hint=_("Nothing was changed. Close the program and try again."),
            processes=tuple(p.pid for p in running),
        )


def _check_cancelled(ctx: OperationContext) -> None:
    if ctx.observer.cancelled():
        raise CancelledError(_("The update was cancelled; nothing was changed."))


def _check_writable(folder: Path) -> None:
    """Refuse to start when the updater cannot create files in ``folder``."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        error: OSError | None = exc
    else:
        error = write_probe(folder)
    if error is not None:
        raise PreflightError(
            _("The updater cannot write to {folder}: {error}").format(
                folder=folder, error=error.strerror or error
            ),
            hint=_("Run the updater with administrator rights; nothing was changed."),
        ) from error


def _worth_it(delta: DeltaRef | None, package: ZipPackage) -> DeltaRef | None:
    """``delta`` when downloading it saves enough over the full package."""
    if delta is None or delta.size > DELTA_MAX_SHARE * package.size:
        return None
    return delta


def _describe_method(method: str, downloaded: int, full_size: int) -> str:
    if method == "delta":
        return _("Only the changes were downloaded: {size} instead of {full}.").format(
            size=format_size(downloaded), full=format_size(full_size)
        )
    return _("{size} downloaded.").format(size=format_size(downloaded))
