"""Everything the updater needs from the operating system, behind one interface.

``current`` is the implementation for this computer, chosen by :data:`sys.platform`:
:class:`~updater.platform.windows.WindowsPlatform` on Windows (where the apps run),
:class:`~updater.platform.posix.PosixPlatform` elsewhere (for development and tests).
The rest of the updater uses ``current`` and never looks at the OS itself.
"""

from __future__ import annotations

import sys

from updater.platform.base import Platform, ProcessInfo, RenameFunc, backoff_delays

if sys.platform == "win32":
    from updater.platform.windows import WindowsPlatform as _Implementation
else:
    from updater.platform.posix import PosixPlatform as _Implementation

__all__ = ["Platform", "ProcessInfo", "RenameFunc", "backoff_delays", "current"]

#: The implementation for the OS the updater runs on.
current: Platform = _Implementation()
