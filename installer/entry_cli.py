"""PyInstaller entry point of ``innova-update.exe`` (the CLI)."""

import sys

from updater.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
