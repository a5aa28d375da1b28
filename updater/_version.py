"""The updater's version, as ``pyproject.toml`` declares it (a test keeps the two equal).

Written here rather than read from the installed package's metadata, which would cost
every command a few hundredths of a second to import ``importlib.metadata``.
"""

__version__ = "0.1.0"
