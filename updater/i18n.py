"""Translation of user-facing strings (gettext, Spanish and English).

Every string a person reads goes through :func:`_` (or :func:`ngettext`). Strings that
must be defined before the language is known (module constants) are marked with
:func:`N_` and translated where they are shown.

The language is chosen, in order, by :func:`set_language`, the ``INNOVA_LANG``
environment variable, and the usual POSIX locale variables. Anything that is not
Spanish falls back to English, the language of the source strings.
"""

from __future__ import annotations

import gettext
import locale
import os
from pathlib import Path

DOMAIN = "innova"
LOCALE_DIR = Path(__file__).with_name("locale")
SUPPORTED = ("es", "en")

_current: str | None = None
_catalog: gettext.NullTranslations = gettext.NullTranslations()


def _normalise(tag: str | None) -> str | None:
    """Map a locale tag such as ``es_ES.UTF-8`` or ``en-GB`` to a supported language."""
    if not tag:
        return None
    lang = tag.replace("-", "_").split(".")[0].split("_")[0].lower()
    return lang if lang in SUPPORTED else None


def detect_language() -> str:
    """Return the language the environment asks for, ``"en"`` when it asks for none we have."""
    explicit = _normalise(os.environ.get("INNOVA_LANG"))
    if explicit:
        return explicit
    for var in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(var)
        if value:
            # LANGUAGE may hold a priority list such as "es:en".
            for part in value.split(":"):
                found = _normalise(part)
                if found:
                    return found
            return "en"
    found = _normalise(locale.getlocale()[0])
    return found or "en"


def set_language(lang: str | None) -> str:
    """Switch the language of every later :func:`_` call; ``None`` re-detects it.

    Returns the language now in use.
    """
    global _current, _catalog
    chosen = _normalise(lang) if lang else detect_language()
    chosen = chosen or "en"
    _catalog = gettext.translation(
        DOMAIN, localedir=str(LOCALE_DIR), languages=[chosen], fallback=True
    )
    _current = chosen
    return chosen


def current_language() -> str:
    """The language in use, detecting it on first use."""
    if _current is None:
        set_language(None)
    assert _current is not None
    return _current


def _(message: str) -> str:
    """Translate ``message`` into the current language."""
    if _current is None:
        set_language(None)
    return _catalog.gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    """Translate a message that depends on a count."""
    if _current is None:
        set_language(None)
    return _catalog.ngettext(singular, plural, n)


def N_(message: str) -> str:  # noqa: N802 - the conventional gettext marker name
    """Mark ``message`` for extraction without translating it yet."""
    return message


def format_size(size: object) -> str:
    """A size for people: KB below one megabyte, MB above (decimal comma in Spanish)."""
    if not isinstance(size, int):
        return "?"
    if size < 2**20:
        return f"{max(1, round(size / 1024))} KB"
    return f"{_one_decimal(size / 2**20)} MB"


def format_rate(rate: float | None) -> str:
    """A transfer rate for people (``""`` when unknown): KB/s, or MB/s from 1 MB/s."""
    if rate is None or rate <= 0:
        return ""
    if rate < 2**20:
        return _("{value} KB/s").format(value=max(1, round(rate / 1024)))
    return _("{value} MB/s").format(value=_one_decimal(rate / 2**20))


def _one_decimal(value: float) -> str:
    """``value`` with one decimal, with a decimal comma in Spanish."""
    text = f"{value:.1f}"
    return text.replace(".", ",") if current_language() == "es" else text
