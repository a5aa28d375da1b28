"""The feed side of the pipeline: what the vendor says, proven before it is believed.

Stages, in order: ``fetch`` (the network boundary: one ``requests`` session, timeouts,
``file:`` feeds), ``trust`` (python-tuf: the signed metadata and the manifest target),
``manifest`` (the manifest's model and schema), ``choose`` (which release this shop is
offered), ``download`` (the package, resumable, hashed against the signed length and
SHA-256), and ``schedule`` (when to check next, backoff, the last verified check).

May import: the machine's configuration (:mod:`updater.machine`), the foundation
(:mod:`updater.fsutil`, :mod:`updater.locations`, :mod:`updater.names`), the platform and
the core (errors, i18n, observer). Never the install side: a verified package is handed
over by the service as a file and a file list.
"""
