"""A guided demo of the updater on a pretend shop PC, with nothing to configure.

:func:`run_demo` builds everything inside one folder and walks through what the updater
does, printing short lines in the person's language:

1. the publisher's side: signing keys, and a signed feed with demo releases of a tiny
   TPV and ERP (real little Python programs with a ``--self-test``); the TPV's
   feature release 1.1.0 fails its self-test on purpose;
2. the feed served over HTTP on 127.0.0.1 (a thread of this process), and a machine
   configuration pointing at it;
3. the shop's PC before the demo: TPV 1.0.0 and ERP 2.0.0 unpacked from their packages;
4. check, a bug-fix update, a feature update rolled back automatically, an ERP update,
   a manual restore and the undo of that restore, then the history.

Nothing goes beyond 127.0.0.1. The folder is a temporary one unless given; with
``keep`` it stays, and its configuration then reads the feed straight from its folder
(a ``file:`` feed), so the tray can be pointed at it after the demo ends.

Modules: ``programs`` (the pretend TPV and ERP and their releases), ``shop`` (the demo's
folder, the pretend PC's configuration and data), ``server`` (the feed on 127.0.0.1)
and ``walkthrough`` (:func:`run_demo` and its steps). Import from here.

May import: the facade (:mod:`updater.service`), the publisher (:mod:`updater.publish`)
and everything below; never the command line or the GUI.
"""

from updater.demo.shop import FROZEN_PROGRAM_FLAG
from updater.demo.walkthrough import STEPS, DemoResult, run_demo

__all__ = ["FROZEN_PROGRAM_FLAG", "STEPS", "DemoResult", "run_demo"]
