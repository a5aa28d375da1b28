"""InnovaCommerce Updater: the update engine shared by the CLI and the tray app.

The engine never imports Qt, never prompts and never exits the process. The folder tree
shows the pipeline, top to bottom (docs/architecture.md has the picture):

- ``cli/`` (``innova-update``) and the tray (``gui/``, outside this package) call
- ``service`` (the one facade), which delegates to ``operations/`` (update and restore,
  checks, the owner's preferences, support, the elevated hand-over), which drive
- ``feed/`` (fetch, trust, manifest, choose, download, schedule) and ``install/`` (archive,
  delta, transaction, health), two sides that never import each other, on top of
- ``machine/`` (configuration, state, history, preferences, logs, elevation protocol,
  setup), ``support/`` (doctor, report) sitting above the stages;
- ``fsutil``, ``locations`` and ``names``: small helpers every layer may use;
- ``platform/`` (Windows and its POSIX twin) and the core: ``errors``, ``i18n``,
  ``observer``.

``publish/`` (``innova-release``) is the publisher's tool, built on the feed and install
sides; ``demo`` builds the built-in demo with it. A lower layer never imports a higher one
(``tests/test_layers.py`` checks it).
"""

from updater._version import __version__

__all__ = ["__version__"]
