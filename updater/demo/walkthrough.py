"""The walkthrough: :func:`run_demo` and the steps it takes on the pretend shop PC.

It publishes the demo releases with the publisher library (signing keys, a signed
feed), serves the feed on 127.0.0.1, unpacks the old versions onto the pretend PC, and
then drives :class:`~updater.service.UpdaterService` through check, a bug-fix update,
a feature update rolled back automatically, an ERP update, a manual restore and the undo
of that restore, then prints the history; every line in the person's language.
:data:`STEPS` are the steps in order; :class:`DemoResult` says which behaved as expected.

May import: the rest of the demo, the facade (:mod:`updater.service`), the publisher
(:mod:`updater.publish`) and everything below.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from updater.demo.programs import (
    BROKEN_VERSION,
    BUGFIX_VERSION,
    CHANNEL,
    ERP,
    ERP_NEW_VERSION,
    OLD_VERSIONS,
    PRODUCT_NAMES,
    RELEASES,
    TPV,
    make_build,
)
from updater.demo.server import local_session, served
from updater.demo.shop import (
    DATA_FILE,
    Layout,
    demo_folder,
    invoice_count,
    make_shop_db,
    record_invoice,
    write_config,
)
from updater.errors import ConfigError, RolledBackError, UpdaterError
from updater.feed.manifest import Release, ReleaseKind
from updater.fsutil import remove_tree
from updater.i18n import N_, _, current_language
from updater.install.archive import extract_zip
from updater.install.filelist import FileList
from updater.machine.config import ProductConfig, load_config
from updater.machine.history import HistoryEntry, Operation, Outcome
from updater.observer import Observer
from updater.publish.keys import KeyRing, generate_key
from updater.publish.repository import ROLES, FeedRepository, ReleaseSpec
from updater.service import UpdaterService

__all__ = ["STEPS", "DemoResult", "run_demo"]

#: The steps of the demo, in order; :attr:`DemoResult.steps` lists those that behaved
#: as expected (the automatic rollback of the broken release counts as expected).
STEPS = (
    "build_feed",
    "serve_feed",
    "install_old_versions",
    "check",
    "bugfix_update",
    "feature_rollback",
    "version_kept",
    "erp_update",
    "manual_restore",
    "undo_restore",
    "history",
)

TRAY_COMMAND = "innova-update-tray"


def _shell_quote(path: Path) -> str:
    if os.name == "nt":
        return subprocess.list2cmdline([str(path)])
    return shlex.quote(str(path))


# --- the result ------------------------------------------------------------------------------


@dataclass
class DemoResult:
    """What :func:`run_demo` did.

    Attributes:
        workdir: The demo's folder (removed again unless kept or given by the caller).
        config_path: The demo PC's configuration file inside ``workdir``; when the
            folder is kept its feed is the feed folder itself (a ``file:`` feed).
        steps: The ids of :data:`STEPS` that behaved as expected, in order.
        ok: Whether every step behaved as expected.
    """

    workdir: Path
    config_path: Path
    steps: list[str] = field(default_factory=list)
    ok: bool = False


class _UnexpectedError(Exception):
    """A step of the demo did not behave as the demo expects (message translated)."""


# --- labels ------------------------------------------------------------------------------------

_OPERATION_LABELS = {
    Operation.CHECK: N_("Check for updates"),
    Operation.UPDATE: N_("Update"),
    Operation.ROLLBACK: N_("Automatic rollback"),
    Operation.RESTORE: N_("Restore"),
    Operation.RECOVERY: N_("Recovery"),
}
_OUTCOME_LABELS = {
    Outcome.SUCCESS: N_("done"),
    Outcome.FAILED: N_("failed"),
    Outcome.ROLLED_BACK: N_("failed, previous version restored"),
    Outcome.ROLLBACK_FAILED: N_("failed, previous version NOT restored"),
    Outcome.CANCELLED: N_("cancelled"),
    Outcome.NOTHING_TO_DO: N_("nothing to do"),
    Outcome.IN_PROGRESS: N_("in progress"),
}


def _kind_label(kind: ReleaseKind | str) -> str:
    return _("bug fixes") if kind == ReleaseKind.BUGFIX else _("new features")


def _notes(release: Release) -> str:
    return release.notes_for(current_language())


# --- the walk-through --------------------------------------------------------------------------


class _Demo:
    def __init__(
        self, layout: Layout, out: Callable[[str], None], observer: Observer | None
    ) -> None:
        self.layout = layout
        self.out = out
        self.observer = observer
        self.steps: list[str] = []

    def done(self, step: str) -> None:
        self.steps.append(step)

    def expect(self, condition: bool, message: str) -> None:
        if not condition:
            raise _UnexpectedError(message)

    # ---- setting up

    def build_feed(self) -> FeedRepository:
        layout = self.layout
        self.out(_("Preparing the publisher's side: signing keys and a signed release feed..."))
        role_keys = {role: [generate_key(layout.keys, role).public_key] for role in ROLES}
        keyring = KeyRing([layout.keys])
        repo = FeedRepository.create(
            layout.feed_workspace, role_keys=role_keys, thresholds={}, keyring=keyring
        )
        for release in RELEASES:
            build = make_build(layout.builds / f"{release.product}-{release.version}", release)
            repo.add_release(
                ReleaseSpec(
                    product=release.product,
                    version=release.version,
                    channel=CHANNEL,
                    notes_es=release.notes_es,
                    notes_en=release.notes_en,
                    kind=release.kind,
                    product_name=PRODUCT_NAMES[release.product],
                    build_dir=build,
                )
            )
        repo.publish(keyring)
        for product, name in PRODUCT_NAMES.items():
            versions = [
                _("{version} (on the shop's PC)").format(version=r.version)
                if r.version == OLD_VERSIONS[product]
                else _("{version} ({kind})").format(version=r.version, kind=_kind_label(r.kind))
                for r in RELEASES
                if r.product == product
            ]
            self.out(
                _("Published {product}: {versions}.").format(
                    product=name, versions=", ".join(versions)
                )
            )
        self.done("build_feed")
        return repo

    def install_old_versions(self, repo: FeedRepository) -> None:
        """Unpack the old releases' packages: the shop's PC as it is before the demo."""
        layout = self.layout
        layout.trusted_root.parent.mkdir(parents=True, exist_ok=True)
        layout.trusted_root.write_bytes((repo.metadata_dir / "1.root.json").read_bytes())
        products = repo.releases_document()["products"]
        for product, version in OLD_VERSIONS.items():
            record = next(r for r in products[product]["releases"] if r["version"] == version)
            package = next(p for p in record["packages"] if p["type"] == "zip")
            listing = package["file_list"]
            file_list = FileList.from_json(
                repo.target_file(listing["target"], listing["sha256"]).read_bytes()
            )
            zip_path = repo.target_file(package["target"], package["sha256"])
            extract_zip(zip_path, layout.install_dir(product), file_list, durable=False)
            make_shop_db(layout.data_dir(product) / DATA_FILE, product)
            self.out(
                _("The shop's PC has {product} {version} installed.").format(
                    product=PRODUCT_NAMES[product], version=version
                )
            )
        self.done("install_old_versions")

    # ---- the updater at work

    def walk(self, service: UpdaterService) -> None:
        tpv, erp = service.config.product(TPV), service.config.product(ERP)
        self.check(service)
        self.bugfix_update(service, tpv)
        self.feature_rollback(service, tpv)
        self.erp_update(service, erp)
        undo_id = self.manual_restore(service, erp)
        self.undo_restore(service, erp, undo_id)

    def check(self, service: UpdaterService) -> None:
        self.out("")
        self.out(_("1. Checking for updates..."))
        result = service.check()
        offers: dict[str, str] = {}
        for choice in result.choices:
            name = service.config.product(choice.product).name
            if choice.offer is None:
                self.out(
                    _("{product} {installed}: up to date.").format(
                        product=name, installed=choice.installed
                    )
                )
                continue
            offers[choice.product] = str(choice.offer.version)
            self.out(
                _("{product} {installed}: version {version} is available ({kind}).").format(
                    product=name,
                    installed=choice.installed,
                    version=choice.offer.version,
                    kind=_kind_label(choice.offer.kind),
                )
            )
            self.out("   " + _("What's new: {notes}").format(notes=_notes(choice.offer)))
        self.expect(
            offers == {TPV: BROKEN_VERSION, ERP: ERP_NEW_VERSION},
            _("The check did not offer the expected versions."),
        )
        self.done("check")

    def bugfix_update(self, service: UpdaterService, tpv: ProductConfig) -> None:
        self.out("")
        self.out(
            _("2. Installing only the bug-fix update of {product}...").format(product=tpv.name)
        )
        result = service.update(TPV, only="bugfix")
        self.expect(
            result.outcome == "updated" and str(result.to_version) == BUGFIX_VERSION,
            _("{product} was not updated to {version}.").format(
                product=tpv.name, version=BUGFIX_VERSION
            ),
        )
        self.out(
            _("Bug-fix update installed: {product} went from {old} to {new}.").format(
                product=tpv.name, old=result.from_version, new=result.to_version
            )
        )
        if result.choice is not None and result.choice.offer is not None:
            self.out("   " + _("What's new: {notes}").format(notes=_notes(result.choice.offer)))
        self.done("bugfix_update")

    def feature_rollback(self, service: UpdaterService, tpv: ProductConfig) -> None:
        self.out("")
        self.out(
            _(
                "3. Installing the feature update {version} of {product}; this demo release "
                "fails its self-check on purpose..."
            ).format(version=BROKEN_VERSION, product=tpv.name)
        )
        try:
            service.update(TPV)
        except RolledBackError as exc:
            self.out(_("Automatic rollback: {message}").format(message=exc.message))
            if exc.hint:
                self.out("   " + exc.hint)
        else:
            raise _UnexpectedError(
                _("{product} {version} was installed although it fails its self-check.").format(
                    product=tpv.name, version=BROKEN_VERSION
                )
            )
        self.done("feature_rollback")
        installed = service.installed_version(tpv)
        self.expect(
            str(installed) == BUGFIX_VERSION,
            _("{product} is at version {found} instead of {expected}.").format(
                product=tpv.name, found=installed, expected=BUGFIX_VERSION
            ),
        )
        self.out(
            _("{product} is still at version {version}: the shop keeps working.").format(
                product=tpv.name, version=installed
            )
        )
        self.done("version_kept")

    def erp_update(self, service: UpdaterService, erp: ProductConfig) -> None:
        self.out("")
        self.out(_("4. Updating {product}...").format(product=erp.name))
        result = service.update(ERP)
        self.expect(
            result.outcome == "updated" and str(result.to_version) == ERP_NEW_VERSION,
            _("{product} was not updated to {version}.").format(
                product=erp.name, version=ERP_NEW_VERSION
            ),
        )
        self.out(
            _("Update installed: {product} went from {old} to {new}.").format(
                product=erp.name, old=result.from_version, new=result.to_version
            )
        )
        record_invoice(self.layout.data_dir(ERP) / DATA_FILE, "Café Central", 4500)
        self.out(
            _("A new invoice is saved in the shop's data with version {version}.").format(
                version=result.to_version
            )
        )
        self.done("erp_update")

    def manual_restore(self, service: UpdaterService, erp: ProductConfig) -> str:
        self.out("")
        self.out(
            _("5. Going back to the previous version of {product} by hand...").format(
                product=erp.name
            )
        )
        database = self.layout.data_dir(ERP) / DATA_FILE
        invoices = invoice_count(database)
        result = service.restore(ERP)
        self.expect(
            str(result.to_version) == OLD_VERSIONS[ERP]
            and str(service.installed_version(erp)) == OLD_VERSIONS[ERP]
            and result.undo is not None
            and invoice_count(database) == invoices - 1,
            _("{product} was not restored to {version}.").format(
                product=erp.name, version=OLD_VERSIONS[ERP]
            ),
        )
        assert result.undo is not None
        self.out(
            _("Restored: {product} went from {old} back to {new}, with its data as it was.").format(
                product=erp.name, old=result.from_version, new=result.to_version
            )
        )
        if result.changed_data:
            self.out(
                _(
                    "Nothing is lost: the data changed since then, like the new invoice, is "
                    "kept in a copy that undoes this restore."
                )
            )
        self.done("manual_restore")
        return result.undo.id

    def undo_restore(self, service: UpdaterService, erp: ProductConfig, undo_id: str) -> None:
        self.out("")
        self.out(_("6. Undoing the restore..."))
        database = self.layout.data_dir(ERP) / DATA_FILE
        invoices = invoice_count(database)
        result = service.restore(ERP, snapshot=undo_id)
        self.expect(
            str(result.to_version) == ERP_NEW_VERSION
            and str(service.installed_version(erp)) == ERP_NEW_VERSION
            and invoice_count(database) == invoices + 1,
            _("The restore of {product} was not undone.").format(product=erp.name),
        )
        message = _(
            "Restore undone: {product} is at version {version} again, with the new invoice."
        )
        self.out(message.format(product=erp.name, version=result.to_version))
        self.done("undo_restore")

    def history(self, service: UpdaterService) -> None:
        self.out("")
        self.out(_("History of this PC, oldest first:"))
        for entry in reversed(service.history()):
            self.out("   " + _history_line(service, entry))
        self.done("history")


def _history_line(service: UpdaterService, entry: HistoryEntry) -> str:
    operation = _(_OPERATION_LABELS.get(entry.operation, str(entry.operation)))
    outcome = _(_OUTCOME_LABELS.get(entry.outcome, str(entry.outcome)))
    when = entry.started_at.astimezone().strftime("%H:%M:%S")
    if entry.product is None:
        return _("{time}  {operation}: {outcome}").format(
            time=when, operation=operation, outcome=outcome
        )
    name = entry.product
    with contextlib.suppress(ConfigError):
        name = service.config.product(entry.product).name
    if entry.from_version and entry.to_version:
        subject = _("{product} from {old} to {new}").format(
            product=name, old=entry.from_version, new=entry.to_version
        )
    else:
        subject = name
    return _("{time}  {operation}, {subject}: {outcome}").format(
        time=when, operation=operation, subject=subject, outcome=outcome
    )


def run_demo(
    workdir: Path | None,
    *,
    keep: bool,
    out: Callable[[str], None],
    observer: Observer | None = None,
) -> DemoResult:
    """Build a signed demo feed and a pretend shop PC, and walk through the updater.

    Every line for the person goes to ``out``, in the current language. ``workdir``
    must be new or empty; ``None`` uses a temporary folder, removed at the end unless
    ``keep``. When the folder stays, its configuration reads the feed from the feed
    folder (the local web server stops when the demo ends). ``observer`` receives the
    service's progress, as in a real update.

    Raises:
        ConfigError: ``workdir`` exists and is not an empty folder.
    """
    root = demo_folder(workdir)
    layout = Layout(root)
    demo = _Demo(layout, out, observer)
    repo: FeedRepository | None = None
    ok = False
    try:
        out(_("InnovaCommerce Updater demo: a pretend shop PC with a TPV and an ERP."))
        out(_("Everything happens in {path}; nothing leaves this PC.").format(path=root))
        try:
            repo = demo.build_feed()
            with served(repo.feed_dir) as server, contextlib.closing(local_session()) as session:
                write_config(layout, server.url)
                out(_("The feed is served at {url} while the demo runs.").format(url=server.url))
                demo.done("serve_feed")
                demo.install_old_versions(repo)
                service = UpdaterService(load_config(layout.config), observer, session=session)
                demo.walk(service)
                demo.history(service)
        except _UnexpectedError as exc:
            out(_("Unexpected: {problem}").format(problem=exc))
        except UpdaterError as exc:
            out(_("The demo stopped: {error}").format(error=exc))
        ok = demo.steps == list(STEPS)
        out("")
        if ok:
            out(_("The demo went as expected."))
        else:
            out(_("Part of the demo did not go as expected; see the lines above."))
        configured = repo is not None and layout.config.is_file()
        if configured and (keep or workdir is not None):
            assert repo is not None
            # The web server is gone: read the feed straight from its folder from now on.
            write_config(layout, str(repo.feed_dir))
        if keep:
            out(_("The demo's files are kept in {path}.").format(path=root))
            if configured:
                assert repo is not None
                out(_("Its configuration: {path}").format(path=layout.config))
                out(
                    _("To try the tray on this pretend PC, run: {command}").format(
                        command=f"{TRAY_COMMAND} --config {_shell_quote(layout.config)}"
                    )
                )
                out(
                    _(
                        "The demo's web server stopped with the demo, so this configuration "
                        "reads the feed straight from its folder: {path}"
                    ).format(path=repo.feed_dir)
                )
    finally:
        if workdir is None and not keep:
            remove_tree(root)
    if workdir is None and not keep:
        out(_("The demo's files were removed."))
    return DemoResult(workdir=root, config_path=layout.config, steps=demo.steps, ok=ok)
