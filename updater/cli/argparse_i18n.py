"""Spanish (and English) for the messages of Python's ``argparse``.

``argparse`` translates its own messages ("usage: ", "options", "the following arguments
are required: %s", ...) through module-level ``_`` and ``ngettext`` names that it looks
up when a message is shown. :func:`install` points them at our catalog, so the help and
usage errors of ``innova-update`` and ``innova-release`` follow the updater's language.
"""

from __future__ import annotations

import argparse

from updater.i18n import N_, _, ngettext

#: argparse's messages that a person can see, listed so that they reach the catalog.
MESSAGES = (
    N_("usage: "),
    N_("positional arguments"),
    N_("options"),
    N_("show this help message and exit"),
    N_("show program's version number and exit"),
    N_("argument %(argument_name)s: %(message)s"),
    N_("unrecognized arguments: %s"),
    N_("not allowed with argument %s"),
    N_("ignored explicit argument %r"),
    N_("the following arguments are required: %s"),
    N_("one of the arguments %s is required"),
    N_("expected one argument"),
    N_("expected at most one argument"),
    N_("expected at least one argument"),
    N_("ambiguous option: %(option)s could match %(matches)s"),
    N_("unexpected option string: %s"),
    N_("invalid %(type)s value: %(value)r"),
    N_("invalid choice: %(value)r (choose from %(choices)s)"),
    N_("%(prog)s: error: %(message)s\n"),
    N_("can't open '%(filename)s': %(error)s"),
)


def _plurals() -> None:  # pragma: no cover - only read by the catalog extractor
    ngettext("expected %s argument", "expected %s arguments", 1)


def install() -> None:
    """Make argparse translate its messages with the updater's catalog."""
    namespace = vars(argparse)
    namespace["_"] = _
    namespace["ngettext"] = ngettext
