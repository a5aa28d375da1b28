"""The install side of the pipeline: what changes on disk, and how it is undone.

Stages, in order: ``archive`` (every hostile-zip rule, the all-or-nothing extractor and
the tree check against the signed ``filelist``), ``delta`` (a new version built from the
installed files and patches), ``transaction`` (stage, snapshot, swap, commit or roll back:
the one package that renames, deletes or copies install folders, data paths and
snapshots, with its journal and crash recovery; ``snapshots`` only reads what it keeps)
and ``health`` (the installed version and the self-test).

May import: the machine's configuration (:mod:`updater.machine`), the foundation, the
platform and the core. Never the feed side: it is given files and file lists that the
feed side has already proven.
"""
