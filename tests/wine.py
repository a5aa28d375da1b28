"""Whether the tests run under Wine (the Windows lane), for the few limits of Wine itself.

A skip for such a limit applies under Wine only: on real Windows (the GitHub Actions
runner) the same test runs. docs/testing.md lists what Wine cannot show.
"""

from __future__ import annotations

import functools
import sys

import pytest


@functools.cache
def under_wine() -> bool:
    """True under Wine: its ntdll exports ``wine_get_version``, Windows' does not."""
    if sys.platform != "win32":
        return False
    import ctypes

    try:
        ntdll = ctypes.WinDLL("ntdll")
    except OSError:
        return False
    return hasattr(ntdll, "wine_get_version")


def not_under_wine(limit: str) -> pytest.MarkDecorator:
    """Skip a test under Wine, naming the ``limit`` of Wine that stops it."""
    return pytest.mark.skipif(under_wine(), reason=f"Wine 8: {limit}")
