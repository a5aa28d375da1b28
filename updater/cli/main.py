"""Entry point of ``innova-update``.

The subcommands (check, update, rollback, status, history, snapshots, doctor, report,
demo) arrive with the engine; for now the command offers its version and help.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from updater import __version__
from updater.cli import argparse_i18n
from updater.i18n import _


def build_parser() -> argparse.ArgumentParser:
    argparse_i18n.install()
    parser = argparse.ArgumentParser(
        prog="innova-update",
        description=_(
            "Check for, install and roll back InnovaCommerce TPV and ERP updates "
            "from a signed release feed."
        ),
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    parser.parse_args(argv)
    parser.print_help()
    return 0


if __name__ == "__main__":
    sys.exit(main())
