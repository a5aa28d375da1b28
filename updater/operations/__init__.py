"""The operations behind the facade (:mod:`updater.service`), one job per module.

``context`` (what every operation runs in: the configuration in effect, the observer,
the platform, the state folder and its lock, recovery first), ``results`` (what the
operations return), ``checking`` (the verified manifest, check, poll, the offline view),
``updating`` (download, preflight, apply, roll back), ``restoring`` (kept snapshots:
restore, prune), ``commands`` (the product's hooks and the rule that SYSTEM runs no
program a standard user could change), ``owner`` (the shop owner's preferences),
``reporting`` (the support bundle), ``status`` (status, activity, history) and
``handover`` (both sides of the elevated hand-over: asking for a request, serving one).

May import: the support package, the feed and install sides, the machine, the
foundation, the platform and the core. Never the facade, the publisher or anything
above them.
"""
