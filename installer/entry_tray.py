"""PyInstaller entry point of ``innova-update-tray.exe`` (the tray app)."""

import sys

from gui.app import main

if __name__ == "__main__":
    sys.exit(main())
