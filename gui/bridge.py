"""The tray's link to the engine: the observer as Qt signals, and engine calls on worker
threads.

The engine never imports Qt. :class:`QtObserver` implements its observer protocol by
emitting signals (delivered on the UI thread, since the observer lives there), and
:class:`Engine` runs each long call (check, update, restore, report) on a
:class:`~PySide6.QtCore.QThreadPool` thread with a service object of its own, so the
UI never waits for the network or the disk. One long call runs at a time; the engine's
lock would refuse a second one anyway, and the tray says so before it gets that far.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

from updater.errors import BusyError, UpdaterError
from updater.i18n import _
from updater.machine.config import MachineConfig
from updater.machine.logs import LoggingObserver
from updater.observer import Observer, Observers, Step
from updater.platform import current as current_platform
from updater.platform.base import Platform
from updater.service import UpdaterService

__all__ = ["Engine", "Job", "QtObserver"]

log = logging.getLogger(__name__)


class QtObserver(QObject):
    """The engine's observer, as signals. ``cancel()`` may be called from the UI."""

    stepped = Signal(str, str)  # product, Step value
    progressed = Signal(str, str, object, object, object)  # product, step, done, total, rate

    def __init__(self) -> None:
        super().__init__()
        self._cancel = threading.Event()

    # the engine's side (any thread)
    def step(self, product: str, step: Step) -> None:
        self.stepped.emit(product, step.value)

    def progress(
        self, product: str, step: Step, done: int, total: int | None, rate: float | None = None
    ) -> None:
        self.progressed.emit(product, step.value, done, total, rate)

    def journal(self, product: str, entry: str) -> None:
        log.debug("journal %s: %s", product, entry)

    def cancelled(self) -> bool:
        return self._cancel.is_set()

    # the UI's side
    def cancel(self) -> None:
        """Ask the engine to stop; it does so until the swap begins."""
        self._cancel.set()


class _Signals(QObject):
    finished = Signal(object)
    failed = Signal(object)


class Job(QObject):
    """One engine call on a worker thread. Exactly one of ``finished(result)`` and
    ``failed(error)`` is emitted, on the UI thread. Errors that are not the engine's own
    are wrapped in an :class:`UpdaterError` so that the UI always has words to show."""

    finished = Signal(object)
    failed = Signal(object)

    def __init__(self, name: str, observer: QtObserver | None) -> None:
        super().__init__()
        self.name = name
        self.observer = observer
        self.done = False
        self.result: object = None
        self.error: UpdaterError | None = None

    def _finish(self, result: object) -> None:
        self.done, self.result = True, result
        self.finished.emit(result)

    def _fail(self, error: UpdaterError) -> None:
        self.done, self.error = True, error
        self.failed.emit(error)


class _Runnable(QRunnable):
    def __init__(self, call: Callable[[], object], signals: _Signals) -> None:
        super().__init__()
        self.call = call
        self.signals = signals

    def run(self) -> None:
        try:
            result = self.call()
        except UpdaterError as exc:
            self.signals.failed.emit(exc)
        except Exception as exc:  # a bug must still end the job with words, not hang it
            log.exception("The engine call failed unexpectedly")
            error = UpdaterError(_("Something unexpected went wrong: {error}").format(error=exc))
            error.__cause__ = exc
            self.signals.failed.emit(error)
        else:
            self.signals.finished.emit(result)


class Engine(QObject):
    """Runs engine calls for the tray. Quick reads use :attr:`service` on the UI thread;
    long calls go through :meth:`run`."""

    busy_changed = Signal(bool)

    def __init__(self, config: MachineConfig, *, platform: Platform = current_platform) -> None:
        super().__init__()
        self.config = config
        self.platform = platform
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(2)
        self.job: Job | None = None
        self._signals: dict[Job, _Signals] = {}
        #: A service for quick reads on the UI thread (preferences, history, snapshots).
        self.service = UpdaterService(config, platform=platform)

    @property
    def busy(self) -> bool:
        return self.job is not None

    def new_service(self, observer: QtObserver | None = None) -> UpdaterService:
        """A service for one job: it reports to ``observer`` and to the log."""
        observers: list[Observer] = [LoggingObserver()]
        if observer is not None:
            observers.append(observer)
        return UpdaterService(self.config, Observers(observers), platform=self.platform)

    def run(
        self,
        name: str,
        call: Callable[[UpdaterService], Any],
        observer: QtObserver | None = None,
    ) -> Job:
        """Start ``call(service)`` on a worker thread.

        Raises:
            BusyError: another long call of this tray is running.
        """
        if self.job is not None:
            raise BusyError(
                _("The updater is already busy ({task}).").format(task=self.job.name),
                hint=_("Wait until it finishes."),
            )
        service = self.new_service(observer)
        job = Job(name, observer)
        signals = _Signals()
        signals.finished.connect(lambda result: self._done(job, lambda: job._finish(result)))
        signals.failed.connect(lambda error: self._done(job, lambda: job._fail(error)))
        self._signals[job] = signals
        self.job = job
        self.busy_changed.emit(True)
        self.pool.start(_Runnable(lambda: call(service), signals))
        return job

    def read(self, call: Callable[[UpdaterService], Any]) -> Job:
        """Run a read that may be slow (it may run the PrestaShop version command) on a
        worker thread, alongside a long call if one runs. Reads change nothing."""
        service = self.new_service()
        job = Job("read", None)
        signals = _Signals()
        signals.finished.connect(lambda result: self._read_done(job, lambda: job._finish(result)))
        signals.failed.connect(lambda error: self._read_done(job, lambda: job._fail(error)))
        self._signals[job] = signals
        self.pool.start(_Runnable(lambda: call(service), signals))
        return job

    def _read_done(self, job: Job, emit: Callable[[], None]) -> None:
        self._signals.pop(job, None)
        emit()

    def _done(self, job: Job, emit: Callable[[], None]) -> None:
        self._signals.pop(job, None)
        if self.job is job:
            self.job = None
        self.service = UpdaterService(self.config, platform=self.platform)  # fresh settings
        self.busy_changed.emit(False)
        emit()

    def wait(self, msecs: int = 30_000) -> bool:
        """Wait for running calls to end (on quit and in tests)."""
        return self.pool.waitForDone(msecs)
