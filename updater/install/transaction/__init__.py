"""Every filesystem change to an installed product, and the journal that makes it safe.

An update is one :class:`UpdateTransaction`: *stage* the new version next to the
install directory, take a *snapshot* (copies of the data paths, and the list with
hashes of every program file), *swap* (the program directory moves into the snapshot,
the staged one into its place: two renames on one volume), then *commit* or *roll
back*. Each step is written to the product's journal and fsynced before it happens, so
that :func:`recover`, which every command runs first, finds any transaction a crash,
kill or power cut interrupted and puts the product back to exactly the old version, or
finishes it when the journal proves the new one was complete and healthy.

Nothing else in the updater renames or deletes install folders, data paths or
snapshots. Decisions about *what* to install, hooks and health checks are the
service's; this package only moves files, and it reports each durable journal entry to
the observer. This ``__init__`` is its public face: import from here, never from its
private modules, which are

- ``_journal``: the journal's file (entries, the plan, append with fsync, read back,
  filed away when it ends);
- ``_files``: the only functions that rename, delete or copy program folders, data
  paths and snapshots (pruning too), and that write ``snapshot.json``;
- ``_steps``: :class:`UpdateTransaction`, the steps in order;
- ``_recovery``: the end of a transaction (commit finished, or everything undone),
  shared by a live rollback and :func:`recover`;
- ``_installed``: ``installed.json``, the list of what a committed transaction put in
  place, so that the next snapshot lists an untouched program by a stat pass.

Reading snapshots and the trees they save is :mod:`updater.install.snapshots`, which
changes nothing; the names of it that were imported from here before it existed are
re-exported.

Layout (all names derived from the plan written in the journal's first line)::

    <install_dir>                         the product, as the shop runs it
    <parent>/.<name>.innova-new-<txid>    staging: the new version (same volume)
    <parent>/.<name>.innova-old-<txid>    the old program when the snapshot store is on
                                          another volume (else it moves into the snapshot)
    <parent>/.<name>.innova-trash-<txid>  what a rollback moved out of the way
    <state>/snapshots/<product>/<id>/     snapshot.json, program/, data/<n>
    <state>/journal/<product>.journal     the journal of the transaction in progress

May import: the rest of :mod:`updater.install`, the machine, the foundation, the
platform and the core (never the feed side).
"""

from __future__ import annotations

from updater.install.snapshots import (
    SnapshotInfo,
    changed_data_paths,
    describe_size,
    list_snapshots,
    same_volume,
)
from updater.install.transaction._files import prune_snapshots, refuse_replaceable
from updater.install.transaction._journal import Entry, Plan, pending_journals
from updater.install.transaction._recovery import Recovered, recover
from updater.install.transaction._steps import UpdateTransaction

__all__ = [
    "Entry",
    "Plan",
    "Recovered",
    "SnapshotInfo",
    "UpdateTransaction",
    "changed_data_paths",
    "describe_size",
    "list_snapshots",
    "pending_journals",
    "prune_snapshots",
    "recover",
    "refuse_replaceable",
    "same_volume",
]
