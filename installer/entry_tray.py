"""PyInstaller entry point of ``innova-update-tray.exe`` (the tray app)."""

import multiprocessing
import sys

from gui.app import main

if __name__ == "__main__":
    # A frozen program is its own worker: without this, each process the publisher's
    # pool spawns (delta packages) would run this program's main() again.
    multiprocessing.freeze_support()
    sys.exit(main())
