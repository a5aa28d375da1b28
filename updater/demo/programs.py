"""The demo's pretend products: a tiny TPV and ERP, and the releases the demo publishes.

Both are real little Python programs with a ``--self-test`` (the health check the
updater runs). :data:`RELEASES` are their versions, with release notes in both
languages as a publisher writes them; the TPV's feature release 1.1.0 fails its
self-test on purpose. :func:`make_build` writes the program folder of one release,
which the walkthrough hands to the publisher library.

May import: the standard library and :mod:`packaging` (it knows nothing of the updater).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.version import Version

__all__ = [
    "BROKEN_VERSION",
    "BUGFIX_VERSION",
    "CHANNEL",
    "ERP",
    "ERP_NEW_VERSION",
    "OLD_VERSIONS",
    "PRODUCT_NAMES",
    "PROGRAMS",
    "RELEASES",
    "TPV",
    "DemoRelease",
    "make_build",
]

#: The channel the demo publishes on and the pretend PC follows.
CHANNEL = "stable"
TPV, ERP = "tpv", "erp"
PRODUCT_NAMES = {TPV: "InnovaCommerce TPV", ERP: "InnovaCommerce ERP"}
PROGRAMS = {TPV: "tpv.py", ERP: "erp.py"}


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
class DemoRelease:
    product: str
    version: str
    kind: str
    notes_es: str
    notes_en: str
    broken: bool = False


# Release notes are data of the feed, in both languages, as a publisher writes them.
RELEASES = (
    DemoRelease(TPV, "1.0.0", "feature", "Primera versión de la demo.", "First demo version."),
    DemoRelease(
        TPV,
        "1.0.1",
        "bugfix",
        "Corrige el redondeo del IVA en los tickets.",
        "Fixes the VAT rounding on receipts.",
    ),
    DemoRelease(
        TPV,
        "1.1.0",
        "feature",
        "Descuentos para clientes habituales. (Esta versión de la demo falla su "
        "autocomprobación a propósito.)",
        "Discounts for regular customers. (This demo release fails its self-check on purpose.)",
        broken=True,
    ),
    DemoRelease(ERP, "2.0.0", "feature", "Primera versión de la demo.", "First demo version."),
    DemoRelease(ERP, "2.1.0", "feature", "Informe de ventas por día.", "A daily sales report."),
)
OLD_VERSIONS = {TPV: "1.0.0", ERP: "2.0.0"}
BUGFIX_VERSION = "1.0.1"
BROKEN_VERSION = "1.1.0"
ERP_NEW_VERSION = "2.1.0"


def _write_json(path: Path, document: Any) -> None:
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")


def make_build(folder: Path, release: DemoRelease) -> Path:
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
