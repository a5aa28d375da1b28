"""Symbolic links for the tests that plant them, where the system can make them."""

from __future__ import annotations

from pathlib import Path

import pytest

NO_LINKS = (
    "this system makes no symbolic links: Windows needs the privilege to create them "
    "(an administrator, or Developer Mode), and Wine 8 reports success and makes none"
)


def symlink(link: Path, target: Path, *, directory: bool = False) -> None:
    """Make ``link`` point at ``target``, or skip the test where no link can be made: a
    link test without its link would test nothing."""
    try:
        link.symlink_to(target, target_is_directory=directory)
    except OSError:
        pytest.skip(NO_LINKS)
    if not link.is_symlink():
        pytest.skip(NO_LINKS)
