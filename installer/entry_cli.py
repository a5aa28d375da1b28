"""PyInstaller entry point of ``innova-update.exe`` (the CLI)."""

import multiprocessing
import runpy
import sys

from updater.cli.main import main

#: updater.demo.FROZEN_PROGRAM_FLAG, spelled out so that every start does not import the
#: demo (tests/test_bundle.py runs the bundled demo, which fails if the two differ).
DEMO_PROGRAM_FLAG = "--run-demo-program"

if __name__ == "__main__":
    # A frozen program is its own worker: without this, each process the publisher's
    # pool spawns (delta packages) would run this program's main() again.
    multiprocessing.freeze_support()
    if len(sys.argv) >= 3 and sys.argv[1] == DEMO_PROGRAM_FLAG:
        # The demo's pretend TPV and ERP are Python scripts, and a shop PC has no
        # python.exe: the bundle's own interpreter runs them (updater/demo/).
        sys.argv = sys.argv[2:]
        runpy.run_path(sys.argv[0], run_name="__main__")
        sys.exit(0)
    sys.exit(main())
