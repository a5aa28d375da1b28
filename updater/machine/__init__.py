"""What this PC is and remembers: its configuration, its state folder, its history.

``config`` (the technician's TOML file as frozen dataclasses), ``state`` (the state
folder, the machine id and the one cross-process lock), ``history`` (SQLite log of every
check, update and restore), ``preferences`` (the shop owner's choices from the tray),
``logs`` (the rotating log, secrets redacted), ``elevation`` (the hand-over protocol to
the elevated updater over the platform's channel) and ``setup`` (``setup-machine`` for
the installer: configuration, folder permissions, scheduled tasks).

May import: the foundation, the platform and the core. It knows nothing of the network,
the feed or the install side.
"""
