"""InnovaCommerce Updater: the update engine shared by the CLI and the tray app.

The engine never imports Qt, never prompts and never exits the process.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("innovacommerce-updater")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
