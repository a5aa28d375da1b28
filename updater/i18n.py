"""Translation of user-facing strings (gettext, Spanish and English).

Every string a person reads goes through :func:`_` (or :func:`ngettext`). Strings that
must be defined before the language is known (module constants) are marked with
:func:`N_` and translated where they are shown.

The language is chosen, in order, by :func:`set_language`, the ``INNOVA_LANG``
environment variable, and the usual POSIX locale variables. Anything that is not
Spanish falls back to English, the language of the source strings.
"""

from __future__ import annotations

import functools
import gettext
import json
import locale
import os
from pathlib import Path
from typing import Any

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


class Text(str):
    """A translated string that remembers how it was made, so that it can be said again
    in another language (:func:`source_of`, :func:`render`): the message and the values
    formatted into it, or the texts it was joined from. It *is* the translated string:
    anything that takes a ``str`` takes it. What another process wrote (the history, the
    saved copies) is kept with its source and shown in the reader's language.

    Only :meth:`format` and ``+`` keep the source; any other string operation gives a
    plain ``str``, which is kept as it was written."""

    __slots__ = ("source",)
    source: Any  # see source_of()

    def __new__(cls, value: str, source: Any = None) -> Text:
        made = super().__new__(cls, value)
        made.source = source
        return made

    def format(self, *args: Any, **kwargs: Any) -> Text:
        value = str.format(self, *args, **kwargs)
        source = self.source
        if not isinstance(source, dict) or "a" in source or "j" in source or "z" in source:
            return Text(value)
        values = {**{str(i): a for i, a in enumerate(args)}, **kwargs}
        return Text(value, {**source, "a": {k: _value_source(v) for k, v in values.items()}})

    def __add__(self, other: str) -> Text:
        return Text(str.__add__(self, other), {"j": [_value_source(self), _value_source(other)]})

    def __radd__(self, other: str) -> Text:
        return Text(str.__add__(other, self), {"j": [_value_source(other), _value_source(self)]})


def _value_source(value: object) -> Any:
    """What :func:`render` needs to say ``value`` again: a Text's source, JSON numbers
    as they are, anything else as the text it was."""
    if isinstance(value, Text) and value.source is not None:
        return value.source
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    return value


def source_of(value: object) -> str | None:
    """How ``value`` was made, as JSON to store beside it (None for a plain string)."""
    if not isinstance(value, Text) or value.source is None:
        return None
    return json.dumps(value.source, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def render(source: str | None, fallback: str | None) -> str | None:
    """``fallback`` (the text as written) said again in the current language from its
    ``source`` (:func:`source_of`). Only messages of this program's catalog are
    rendered, and any doubt (a message this version does not know, a damaged source)
    gives ``fallback``: what another process stored is read, never trusted."""
    if not source:
        return fallback
    try:
        return _render(json.loads(source), depth=0)
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, RecursionError, OSError):
        return fallback


def _render(node: Any, *, depth: int) -> str:
    if depth > 8:
        raise ValueError("nested too deeply")
    if isinstance(node, str):
        return node
    if isinstance(node, bool) or not isinstance(node, (dict, int, float)):
        raise TypeError(node)
    if not isinstance(node, dict):
        return str(node)
    if "j" in node:
        return "".join(_render(part, depth=depth + 1) for part in node["j"])
    if "z" in node:
        return format_size(int(node["z"]))
    args = {k: _arg(v, depth) for k, v in dict(node.get("a", {})).items()}
    if "p" in node:
        singular, plural = node["p"]
        _known(singular, None)
        text = ngettext(str(singular), str(plural), int(node["n"]))
    else:
        message, context = str(node["m"]), node.get("c")
        _known(message, context)
        text = pgettext(str(context), message) if context is not None else _(message)
    positional = [args.pop(str(i)) for i in range(len(args)) if str(i) in args]
    return str.format(text, *positional, **args)


def _arg(value: Any, depth: int) -> Any:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    return _render(value, depth=depth + 1)


def _known(message: str, context: object) -> None:
    """Refuse a message that is not one of this program's (a format string from
    elsewhere could reach into the values it is given)."""
    key = f"{context}\x04{message}" if context is not None else message
    if key not in _known_messages():
        raise KeyError(message)


@functools.cache
def _known_messages() -> frozenset[str]:
    spanish = gettext.translation(DOMAIN, localedir=str(LOCALE_DIR), languages=["es"])
    catalog: dict[Any, str] = getattr(spanish, "_catalog", {})
    return frozenset(k[0] if isinstance(k, tuple) else k for k in catalog if k)


def _(message: str) -> str:  # a Text; typed str for what callers do with it
    """Translate ``message`` into the current language."""
    if _current is None:
        set_language(None)
    return Text(_catalog.gettext(message), {"m": message})


def ngettext(singular: str, plural: str, n: int) -> str:  # a Text
    """Translate a message that depends on a count."""
    if _current is None:
        set_language(None)
    return Text(_catalog.ngettext(singular, plural, n), {"p": [singular, plural], "n": n})


def pgettext(context: str, message: str) -> str:  # a Text
    """Translate ``message`` as used in ``context``: for a word that needs another
    translation in another place (English "Restore" is a verb on a button, a noun in
    the history; Spanish says "Restaurar" and "Restauración")."""
    if _current is None:
        set_language(None)
    return Text(_catalog.pgettext(context, message), {"m": message, "c": context})


def N_(message: str) -> str:  # noqa: N802 - the conventional gettext marker name
    """Mark ``message`` for extraction without translating it yet."""
    return message


def format_size(size: object) -> str:
    """A size for people: KB below one megabyte, MB above (decimal comma in Spanish)."""
    if not isinstance(size, int) or isinstance(size, bool):
        return "?"
    if size < 2**20:
        return Text(f"{max(1, round(size / 1024))} KB", {"z": size})
    return Text(f"{_one_decimal(size / 2**20)} MB", {"z": size})


def format_rate(rate: float | None) -> str:
    """A transfer rate for people (``""`` when unknown): KB/s, or MB/s from 1 MB/s."""
    if rate is None or rate <= 0:
        return ""
    if rate < 2**20:
        return _("{value} KB/s").format(value=max(1, round(rate / 1024)))
    return _("{value} MB/s").format(value=_one_decimal(rate / 2**20))


def format_time_left(seconds: float) -> str:
    """Time left for people, rounded up the way a wait is said: "a few seconds left",
    "about 40 seconds left", "about 3 minutes left"."""
    if seconds < 10:
        return _("a few seconds left")
    if seconds < 60:
        return _("about {seconds} seconds left").format(seconds=int(-(-seconds // 10) * 10))
    minutes = int(-(-seconds // 60))
    return ngettext("about {minutes} minute left", "about {minutes} minutes left", minutes).format(
        minutes=minutes
    )


def _one_decimal(value: float) -> str:
    """``value`` with one decimal, with a decimal comma in Spanish."""
    text = f"{value:.1f}"
    return text.replace(".", ",") if current_language() == "es" else text
