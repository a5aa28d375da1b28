"""How the engine reports to whoever drives it: the "user driver" of the updater.

The engine never prints, prompts or touches Qt. It calls an :class:`Observer` at each
moment a person (or a log, or a test) may care about; the CLI renders those calls as
text or JSON lines, the tray adapts them to Qt signals. Observers are composed with
:class:`Observers`, never subclassed into each other.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from typing import Protocol


class Step(StrEnum):
    """The stages of the pipeline, as shown to a person."""

    CHECK = "check"
    PREFLIGHT = "preflight"
    DOWNLOAD = "download"
    STAGE = "stage"
    SNAPSHOT = "snapshot"
    SWAP = "swap"
    HEALTH_CHECK = "health_check"
    COMMIT = "commit"
    ROLLBACK = "rollback"
    RESTORE = "restore"
    RECOVERY = "recovery"


class Observer(Protocol):
    """What the engine tells its driver. Every method must return quickly."""

    def step(self, product: str, step: Step) -> None:
        """A stage starts."""

    def progress(
        self, product: str, step: Step, done: int, total: int | None, rate: float | None = None
    ) -> None:
        """Bytes done out of ``total`` in the current stage; ``rate`` in bytes per second
        where it is known (downloads)."""

    def journal(self, product: str, entry: str) -> None:
        """A journal entry was made durable (what a crash after this point will find)."""

    def cancelled(self) -> bool:
        """Whether the person asked to stop; honoured until the swap begins."""


class NullObserver:
    """Reports nowhere and never cancels."""

    def step(self, product: str, step: Step) -> None:
        return None

    def progress(
        self, product: str, step: Step, done: int, total: int | None, rate: float | None = None
    ) -> None:
        return None

    def journal(self, product: str, entry: str) -> None:
        return None

    def cancelled(self) -> bool:
        return False


class Observers:
    """Several observers as one: each call goes to all; cancelled if any says so."""

    def __init__(self, observers: Iterable[Observer]) -> None:
        self._observers = tuple(observers)

    def step(self, product: str, step: Step) -> None:
        for observer in self._observers:
            observer.step(product, step)

    def progress(
        self, product: str, step: Step, done: int, total: int | None, rate: float | None = None
    ) -> None:
        for observer in self._observers:
            observer.progress(product, step, done, total, rate)

    def journal(self, product: str, entry: str) -> None:
        for observer in self._observers:
            observer.journal(product, entry)

    def cancelled(self) -> bool:
        return any(observer.cancelled() for observer in self._observers)
