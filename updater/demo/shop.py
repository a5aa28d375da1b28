"""The pretend shop PC: the demo's folder, its configuration and the shop's data.

:class:`Layout` names every path inside the demo's folder (the publisher's keys and
builds, the feed workspace, and the shop: programs, data, trusted root, configuration,
state); :func:`demo_folder` creates or checks that folder. :func:`write_config` writes
the machine configuration of the pretend PC, whose health checks run the demo programs
with this Python (or, frozen, with :data:`FROZEN_PROGRAM_FLAG`). The shop's data is a
small SQLite database per product that updates must not lose.

May import: the demo's products (:mod:`updater.demo.programs`) and the core (errors,
i18n).
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from updater.demo.programs import CHANNEL, PRODUCT_NAMES, PROGRAMS, TPV
from updater.errors import ConfigError
from updater.i18n import _

__all__ = [
    "DATA_FILE",
    "FROZEN_PROGRAM_FLAG",
    "Layout",
    "demo_folder",
    "invoice_count",
    "make_shop_db",
    "record_invoice",
    "write_config",
]

HEALTH_TIMEOUT = 30
DATA_FILE = "shop.db"


# --- the demo's folder ---------------------------------------------------------------------


@dataclass(frozen=True)
class Layout:
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


def demo_folder(workdir: Path | None) -> Path:
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


# --- its configuration ------------------------------------------------------------------


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


def write_config(layout: Layout, feed_location: str) -> None:
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


# --- the shop's data -----------------------------------------------------------------------


def make_shop_db(path: Path, product: str) -> None:
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


def record_invoice(path: Path, customer: str, cents: int) -> None:
    with contextlib.closing(sqlite3.connect(path)) as db, db:
        db.execute("INSERT INTO invoices (customer, cents) VALUES (?, ?)", (customer, cents))


def invoice_count(path: Path) -> int:
    with contextlib.closing(sqlite3.connect(path)) as db:
        row = db.execute("SELECT COUNT(*) FROM invoices").fetchone()
    return int(row[0])
