"""The tray's words: how releases, steps, errors and dates read for a shop owner.

The GUI maps the engine's typed errors to messages here (the CLI maps the same errors to
exit codes). Everything goes through :func:`updater.i18n._`, so it follows the language
chosen in Settings.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from updater.errors import (
    AppRunningError,
    BusyError,
    CancelledError,
    ConfigError,
    IntegrityError,
    NetworkError,
    PreflightError,
    RollbackFailedError,
    RolledBackError,
    StorageError,
    TrustError,
    UpdaterError,
)
from updater.feed.manifest import Release, ReleaseKind
from updater.i18n import N_, _, current_language
from updater.observer import Step

#: The steps shown in the progress window, in order, with their words.
PROGRESS_STEPS: tuple[tuple[Step, str], ...] = (
    (Step.DOWNLOAD, N_("Downloading")),
    (Step.STAGE, N_("Verifying")),
    (Step.SNAPSHOT, N_("Saving a copy of the current version")),
    (Step.SWAP, N_("Installing")),
    (Step.HEALTH_CHECK, N_("Checking that it works")),
)
RESTORE_STEPS: tuple[tuple[Step, str], ...] = (
    (Step.RESTORE, N_("Preparing the saved version")),
    (Step.SNAPSHOT, N_("Saving a copy of the current version")),
    (Step.SWAP, N_("Putting the saved version back")),
    (Step.HEALTH_CHECK, N_("Checking that it works")),
)


def kind_label(release: Release) -> str:
    """ "Bug-fix" or "New features" (and "important" for critical ones)."""
    text = _("Bug-fix") if release.kind == ReleaseKind.BUGFIX else _("New features")
    if release.critical:
        text = _("{kind} (important)").format(kind=text)
    return text


def notes_of(release: Release) -> str:
    """The release notes in the person's language (English, then any, as fallbacks)."""
    notes = release.notes
    return notes.get(current_language()) or notes.get("en") or next(iter(notes.values()), "")


def format_date(moment: date | datetime) -> str:
    """A date (and time) as people in the chosen language write it."""
    if isinstance(moment, datetime):
        local = moment.astimezone()
        pattern = "%d/%m/%Y %H:%M" if current_language() == "es" else "%Y-%m-%d %H:%M"
        return local.strftime(pattern)
    return moment.strftime("%d/%m/%Y" if current_language() == "es" else "%Y-%m-%d")


@dataclass(frozen=True)
class Problem:
    """An error in words: a title, what it means for the shop, and the details for support."""

    title: str
    text: str
    details: str
    changed_nothing: bool = True
    serious: bool = False


def describe_error(error: UpdaterError, product_name: str = "") -> Problem:
    """What the owner reads when an operation fails."""
    lines = [error.hint, _cause(error)]
    if not isinstance(error, RolledBackError):  # its message is the text shown already
        lines.insert(0, error.message)
    details = "\n".join(dict.fromkeys(line for text in lines if text for line in text.split("\n")))
    nothing = _("Nothing was changed; the shop keeps working as before.")
    if isinstance(error, RollbackFailedError):
        return Problem(
            _("The previous version could not be restored"),
            error.message + "\n\n" + (error.hint or ""),
            details, changed_nothing=False, serious=True,
        )  # fmt: skip
    if isinstance(error, RolledBackError):
        return Problem(
            _("{product} was not updated").format(product=product_name)
            if product_name
            else _("The update could not be installed"),
            _(
                "The update could not be installed. Your previous version has been restored "
                "and everything is as it was. You can try again later."
            ),
            details, changed_nothing=False,
        )  # fmt: skip
    if isinstance(error, CancelledError):
        return Problem(_("Update cancelled"), nothing, details)
    if isinstance(error, BusyError):
        return Problem(
            _("Another update is in progress"),
            error.message + " " + _("Try again when it has finished."),
            details,
        )
    if isinstance(error, AppRunningError):
        return Problem(
            _("{product} is open").format(product=product_name or _("The program")),
            _("Close it to continue, or let the updater close it for you.") + " " + nothing,
            details,
        )
    if isinstance(error, NetworkError):
        return Problem(
            _("No connection to the update server"),
            _("Check the internet connection and try again later.") + " " + nothing,
            details,
        )
    if isinstance(error, TrustError | IntegrityError):
        return Problem(
            _("The update was refused for your safety"),
            _(
                "What was downloaded does not carry InnovaCommerce's valid signature, so it "
                "was not installed."
            )
            + " "
            + nothing,
            details,
        )
    if isinstance(error, PreflightError | StorageError | ConfigError):
        return Problem(_("The update cannot start"), error.message + "\n" + nothing, details)
    return Problem(_("Something went wrong"), error.message + "\n" + nothing, details)


def _cause(error: BaseException) -> str:
    cause = error.__cause__
    if cause is None:
        return ""
    if isinstance(cause, UpdaterError):
        return "\n".join(filter(None, [cause.message, cause.hint]))
    return f"{type(cause).__name__}: {cause}"
