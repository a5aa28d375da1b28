"""PyInstaller entry point of ``innova-update-tray.exe`` (the tray app)."""

import multiprocessing
import sys

from gui.app import main

if __name__ == "__main__":
    # A frozen program is its own worker: without this, a process that a library
    # spawns (multiprocessing) would start another tray instead.
    multiprocessing.freeze_support()
    sys.exit(main())
