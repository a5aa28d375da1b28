"""A guided demo of the updater on a pretend shop PC, with nothing to configure.

:func:`run_demo` builds everything inside one folder and walks through what the updater
does, printing short lines in the person's language:

1. the publisher's side: signing keys, and a signed feed with demo releases of a tiny
   TPV and ERP (real little Python programs with a ``--self-test``); the TPV's
   feature release 1.1.0 fails its self-test on purpose;
2. the feed served over HTTP on 127.0.0.1 (a thread of this process), and a machine
   configuration pointing at it;
3. the shop's PC before the demo: TPV 1.0.0 and ERP 2.0.0 unpacked from their packages;
4. check, a bug-fix update, a feature update rolled back automatically, an ERP update,
   a manual restore and the undo of that restore, then the history.

Nothing goes beyond 127.0.0.1. The folder is a temporary one unless given; with
``keep`` it stays, and its configuration then reads the feed straight from its folder
(a ``file:`` feed), so the tray can be pointed at it after the demo ends.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import shlex
import sqlite3
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import requests
from packaging.version import Version

from updater.errors import ConfigError, RolledBackError, UpdaterError
from updater.feed.fetch import NetworkLimits, make_session
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
CHANNEL = "stable"
HEALTH_TIMEOUT = 30
TPV, ERP = "tpv", "erp"
PRODUCT_NAMES = {TPV: "InnovaCommerce TPV", ERP: "InnovaCommerce ERP"}
PROGRAMS = {TPV: "tpv.py", ERP: "erp.py"}
DATA_FILE = "shop.db"


# --- the demo programs ------------------------------------------------------------------

# A till: prices a ticket from its catalog. ``--self-test`` prices a known ticket.
_TPV_PROGRAM = '''\
"""InnovaCommerce TPV (demo build): prices tickets from catalog.json."""

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def read_json(name):
    return json.loads((HERE / name).read_text(encoding="utf-8"))


def ticket_total(lines, vat_percent, discount_percent=0):
    """The total in cents of (price in cents, quantity) lines."""
    subtotal = sum(price * qty for price, qty in lines)
    discounted = subtotal * (100 - discount_percent) / 100
@@DISCOUNT_BUG@@
    return round(discounted * (100 + vat_percent) / 100)


def self_test():
    version = (HERE / "VERSION").read_text(encoding="utf-8").strip()
    catalog = read_json("catalog.json")
    case = read_json("selftest.json")
    lines = [(catalog[item]["price"], qty) for item, qty in case["items"].items()]
    total = ticket_total(lines, case["vat_percent"], case.get("discount_percent", 0))
    if total != case["expected_total"]:
        print(f"TPV {version} self-test FAILED: total {total}, expected {case['expected_total']}")
        return 1
    print(f"TPV {version} self-test OK")
    return 0


def main():
    if "--self-test" in sys.argv:
        return self_test()
    version = (HERE / "VERSION").read_text(encoding="utf-8").strip()
    print(f"InnovaCommerce TPV {version} (demo)")
    for item, entry in read_json("catalog.json").items():
        print(f"  {item}: {entry['price'] / 100:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
'''
# The bug of the broken feature release: the new discount is applied twice.
_DISCOUNT_BUG = "    discounted = discounted * (100 - discount_percent) / 100"

# A back office: its self-test checks that the chart of accounts balances.
_ERP_PROGRAM = '''\
"""InnovaCommerce ERP (demo build): a chart of accounts that must balance."""

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def self_test():
    version = (HERE / "VERSION").read_text(encoding="utf-8").strip()
    accounts = json.loads((HERE / "accounts.json").read_text(encoding="utf-8"))
    balance = sum(account["balance"] for account in accounts)
    if balance != 0:
        print(f"ERP {version} self-test FAILED: the accounts are off by {balance}")
        return 1
    print(f"ERP {version} self-test OK ({len(accounts)} accounts)")
    return 0


def main():
    if "--self-test" in sys.argv:
        return self_test()
    version = (HERE / "VERSION").read_text(encoding="utf-8").strip()
    print(f"InnovaCommerce ERP {version} (demo)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
'''

_CATALOG = {"coffee": {"price": 150}, "croissant": {"price": 120}, "water": {"price": 100}}
_ACCOUNTS = [
    {"code": "430", "name": "Customers", "balance": 12000},
    {"code": "570", "name": "Cash", "balance": 3000},
    {"code": "700", "name": "Sales", "balance": -15000},
]


@dataclass(frozen=True)
class _DemoRelease:
    product: str
    version: str
    kind: str
    notes_es: str
    notes_en: str
    broken: bool = False


# Release notes are data of the feed, in both languages, as a publisher writes them.
_RELEASES = (
    _DemoRelease(TPV, "1.0.0", "feature", "Primera versión de la demo.", "First demo version."),
    _DemoRelease(
        TPV,
        "1.0.1",
        "bugfix",
        "Corrige el redondeo del IVA en los tickets.",
        "Fixes the VAT rounding on receipts.",
    ),
    _DemoRelease(
        TPV,
        "1.1.0",
        "feature",
        "Descuentos para clientes habituales. (Esta versión de la demo falla su "
        "autocomprobación a propósito.)",
        "Discounts for regular customers. (This demo release fails its self-check on purpose.)",
        broken=True,
    ),
    _DemoRelease(ERP, "2.0.0", "feature", "Primera versión de la demo.", "First demo version."),
    _DemoRelease(ERP, "2.1.0", "feature", "Informe de ventas por día.", "A daily sales report."),
)
_OLD_VERSIONS = {TPV: "1.0.0", ERP: "2.0.0"}
_BUGFIX_VERSION = "1.0.1"
_BROKEN_VERSION = "1.1.0"
_ERP_NEW_VERSION = "2.1.0"


def _write_json(path: Path, document: Any) -> None:
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")


def _make_build(folder: Path, release: _DemoRelease) -> Path:
    """Write the program folder of one demo release (what the publisher packs)."""
    folder.mkdir(parents=True)
    (folder / "VERSION").write_text(release.version + "\n", encoding="utf-8")
    if release.product == TPV:
        bug = _DISCOUNT_BUG if release.broken else ""
        program = _TPV_PROGRAM.replace("@@DISCOUNT_BUG@@\n", bug + "\n" if bug else "")
        (folder / PROGRAMS[TPV]).write_text(program, encoding="utf-8")
        _write_json(folder / "catalog.json", _CATALOG)
        # 2 coffees and a croissant: 420 cents, +10 % VAT; 1.1.0 tests its 10 % discount.
        discount = 10 if Version(release.version) >= Version("1.1") else 0
        expected = round(420 * (100 - discount) / 100 * 110 / 100)
        case = {"items": {"coffee": 2, "croissant": 1}, "vat_percent": 10}
        if discount:
            case["discount_percent"] = discount
        _write_json(folder / "selftest.json", {**case, "expected_total": expected})
    else:
        (folder / PROGRAMS[ERP]).write_text(_ERP_PROGRAM, encoding="utf-8")
        _write_json(folder / "accounts.json", _ACCOUNTS)
    return folder


# --- the local feed server ---------------------------------------------------------------


class _QuietHandler(SimpleHTTPRequestHandler):
    # Headers and body go out in two writes: without TCP_NODELAY the body may wait for
    # the client's delayed ACK (~40 ms a file).
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], OSError):  # a client hanging up is normal
            super().handle_error(request, client_address)


class _FeedServer:
    """Serves a folder on http://127.0.0.1:<free port>/ from a thread."""

    def __init__(self, folder: Path) -> None:
        handler = functools.partial(_QuietHandler, directory=str(folder))
        self._httpd = _QuietServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}/"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="innova-demo-feed",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._thread.join(5)
        self._httpd.server_close()


# --- the demo's folder ---------------------------------------------------------------------


@dataclass(frozen=True)
class _Layout:
    """Where everything of the demo lives inside its folder."""

    root: Path

    @property
    def publisher(self) -> Path:
        return self.root / "publisher"

    @property
    def keys(self) -> Path:
        return self.publisher / "keys"

    @property
    def builds(self) -> Path:
        return self.publisher / "builds"

    @property
    def feed_workspace(self) -> Path:
        return self.publisher / "workspace"

    @property
    def shop(self) -> Path:
        return self.root / "shop"

    @property
    def trusted_root(self) -> Path:
        return self.shop / "root.json"

    @property
    def config(self) -> Path:
        return self.shop / "config.toml"

    @property
    def state(self) -> Path:
        return self.shop / "state"

    def install_dir(self, product: str) -> Path:
        return self.shop / "Programs" / product.upper()

    def data_dir(self, product: str) -> Path:
        return self.shop / "Data" / product.upper()


def _toml_string(value: str) -> str:
    # A JSON string is a valid TOML basic string (same escapes; paths hold no DEL).
    return json.dumps(value)


#: How the frozen CLI (installer/entry_cli.py) is asked to run a demo program's script.
FROZEN_PROGRAM_FLAG = "--run-demo-program"


def _python() -> list[str]:
    """The command that runs a demo program (a Python script): this Python, or in the
    PyInstaller bundle, which has no python.exe, the bundle's CLI running it itself."""
    if getattr(sys, "frozen", False):
        return [sys.executable, FROZEN_PROGRAM_FLAG]
    return [sys.executable]


def _write_config(layout: _Layout, feed_location: str) -> None:
    lines = [
        f"state_dir = {_toml_string(str(layout.state))}",
        "",
        "[feed]",
        f"url = {_toml_string(feed_location)}",
        f"root = {_toml_string(str(layout.trusted_root))}",
        f"channel = {_toml_string(CHANNEL)}",
        "# The channels the shop owner may choose in the tray's settings.",
        'channels = ["stable", "beta"]',
    ]
    for product, program in PROGRAMS.items():
        health = [*_python(), "{install_dir}/" + program, "--self-test"]
        lines += [
            "",
            f"[products.{product}]",
            f"name = {_toml_string(PRODUCT_NAMES[product])}",
            f"install_dir = {_toml_string(str(layout.install_dir(product)))}",
            f"executable = {_toml_string(program)}",
            f"data_paths = [{_toml_string(str(layout.data_dir(product)))}]",
            f"health_check = [{', '.join(_toml_string(arg) for arg in health)}]",
            f"health_timeout = {HEALTH_TIMEOUT}",
        ]
    layout.config.parent.mkdir(parents=True, exist_ok=True)
    layout.config.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _make_shop_db(path: Path, product: str) -> None:
    """A small SQLite database: the shop's data that updates must not lose."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.closing(sqlite3.connect(path)) as db, db:
        if product == TPV:
            db.execute("CREATE TABLE sales (id INTEGER PRIMARY KEY, item TEXT, cents INTEGER)")
            db.executemany(
                "INSERT INTO sales (item, cents) VALUES (?, ?)",
                [("coffee", 165), ("croissant", 132), ("water", 110)],
            )
        else:
            db.execute(
                "CREATE TABLE invoices (id INTEGER PRIMARY KEY, customer TEXT, cents INTEGER)"
            )
            db.executemany(
                "INSERT INTO invoices (customer, cents) VALUES (?, ?)",
                [("Bar Pepe", 12000), ("Hotel Sol", 3000)],
            )


def _record_invoice(path: Path, customer: str, cents: int) -> None:
    with contextlib.closing(sqlite3.connect(path)) as db, db:
        db.execute("INSERT INTO invoices (customer, cents) VALUES (?, ?)", (customer, cents))


def _invoice_count(path: Path) -> int:
    with contextlib.closing(sqlite3.connect(path)) as db:
        row = db.execute("SELECT COUNT(*) FROM invoices").fetchone()
    return int(row[0])


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
        self, layout: _Layout, out: Callable[[str], None], observer: Observer | None
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
        for release in _RELEASES:
            build = _make_build(layout.builds / f"{release.product}-{release.version}", release)
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
                if r.version == _OLD_VERSIONS[product]
                else _("{version} ({kind})").format(version=r.version, kind=_kind_label(r.kind))
                for r in _RELEASES
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
        for product, version in _OLD_VERSIONS.items():
            record = next(r for r in products[product]["releases"] if r["version"] == version)
            package = next(p for p in record["packages"] if p["type"] == "zip")
            listing = package["file_list"]
            file_list = FileList.from_json(
                repo.target_file(listing["target"], listing["sha256"]).read_bytes()
            )
            zip_path = repo.target_file(package["target"], package["sha256"])
            extract_zip(zip_path, layout.install_dir(product), file_list, durable=False)
            _make_shop_db(layout.data_dir(product) / DATA_FILE, product)
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
            offers == {TPV: _BROKEN_VERSION, ERP: _ERP_NEW_VERSION},
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
            result.outcome == "updated" and str(result.to_version) == _BUGFIX_VERSION,
            _("{product} was not updated to {version}.").format(
                product=tpv.name, version=_BUGFIX_VERSION
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
            ).format(version=_BROKEN_VERSION, product=tpv.name)
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
                    product=tpv.name, version=_BROKEN_VERSION
                )
            )
        self.done("feature_rollback")
        installed = service.installed_version(tpv)
        self.expect(
            str(installed) == _BUGFIX_VERSION,
            _("{product} is at version {found} instead of {expected}.").format(
                product=tpv.name, found=installed, expected=_BUGFIX_VERSION
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
            result.outcome == "updated" and str(result.to_version) == _ERP_NEW_VERSION,
            _("{product} was not updated to {version}.").format(
                product=erp.name, version=_ERP_NEW_VERSION
            ),
        )
        self.out(
            _("Update installed: {product} went from {old} to {new}.").format(
                product=erp.name, old=result.from_version, new=result.to_version
            )
        )
        _record_invoice(self.layout.data_dir(ERP) / DATA_FILE, "Café Central", 4500)
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
        invoices = _invoice_count(database)
        result = service.restore(ERP)
        self.expect(
            str(result.to_version) == _OLD_VERSIONS[ERP]
            and str(service.installed_version(erp)) == _OLD_VERSIONS[ERP]
            and result.undo is not None
            and _invoice_count(database) == invoices - 1,
            _("{product} was not restored to {version}.").format(
                product=erp.name, version=_OLD_VERSIONS[ERP]
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
        invoices = _invoice_count(database)
        result = service.restore(ERP, snapshot=undo_id)
        self.expect(
            str(result.to_version) == _ERP_NEW_VERSION
            and str(service.installed_version(erp)) == _ERP_NEW_VERSION
            and _invoice_count(database) == invoices + 1,
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


@contextlib.contextmanager
def _served(folder: Path) -> Iterator[_FeedServer]:
    server = _FeedServer(folder)
    try:
        yield server
    finally:
        server.stop()


def _local_session() -> requests.Session:
    """The updater's HTTP session, without proxies: the demo only talks to 127.0.0.1."""
    session = make_session(user_agent=NetworkLimits().user_agent)
    session.trust_env = False
    session.proxies.clear()
    return session


def _demo_folder(workdir: Path | None) -> Path:
    if workdir is None:
        return Path(tempfile.mkdtemp(prefix="innova-demo-")).resolve()
    folder = workdir.expanduser().resolve()
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise ConfigError(
            _("{path} is not an empty folder; give a new or empty folder for the demo.").format(
                path=folder
            )
        )
    folder.mkdir(parents=True, exist_ok=True)
    return folder


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
    root = _demo_folder(workdir)
    layout = _Layout(root)
    demo = _Demo(layout, out, observer)
    repo: FeedRepository | None = None
    ok = False
    try:
        out(_("InnovaCommerce Updater demo: a pretend shop PC with a TPV and an ERP."))
        out(_("Everything happens in {path}; nothing leaves this PC.").format(path=root))
        try:
            repo = demo.build_feed()
            with _served(repo.feed_dir) as server, contextlib.closing(_local_session()) as session:
                _write_config(layout, server.url)
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
            _write_config(layout, str(repo.feed_dir))
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
