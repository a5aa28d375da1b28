"""How Windows spells and compares paths: pure text logic, tested on every OS.

Paths compare without regard to letter case (NTFS's default), after removing the
``\\\\?\\`` prefix and normalising separators; the ``\\\\?\\`` form lifts the
260-character limit. This module imports nothing of the updater.
"""

from __future__ import annotations

import ntpath


def _fold_case(text: str) -> str:
    """Upper-case ``text`` one character at a time, as NTFS compares names.

    NTFS maps each UTF-16 unit through its upcase table; it never expands a character
    (``ß`` stays ``ß``), which :meth:`str.upper` or :meth:`str.casefold` would do.
    """
    return "".join(u if len(u := ch.upper()) == 1 else ch for ch in text)


def path_key(path: str) -> str:
    r"""A case-folded, normalised form of a Windows path, for comparisons.

    ``\\?\C:\x`` and ``C:/X/.`` give the same key; ``\\?\UNC\srv\share`` becomes
    ``\\SRV\SHARE``.
    """
    text = path.replace("/", "\\")
    if text.startswith("\\\\?\\UNC\\"):
        text = "\\\\" + text[len("\\\\?\\UNC\\") :]
    elif text.startswith(("\\\\?\\", "\\??\\")):
        text = text[4:]
    return _fold_case(ntpath.normpath(text)).rstrip("\\") or "\\"


def is_inside(path: str, root: str) -> bool:
    """Whether Windows path ``path`` is inside folder ``root`` (letter case ignored)."""
    key, root_key = path_key(path), path_key(root)
    prefix = root_key if root_key.endswith("\\") else root_key + "\\"
    return key.startswith(prefix)


def extended_path(path: str) -> str:
    r"""An absolute Windows path in the ``\\?\`` form, which has no 260-character limit."""
    text = path.replace("/", "\\")
    if text.startswith("\\\\?\\"):
        return text
    text = ntpath.normpath(text)
    if text.startswith("\\\\"):
        return "\\\\?\\UNC\\" + text[2:]
    return "\\\\?\\" + text


def strip_extended(path: str) -> str:
    r"""``path`` without the ``\\?\`` prefix (the inverse of :func:`extended_path`)."""
    if path.startswith("\\\\?\\UNC\\"):
        return "\\\\" + path[8:]
    return path[4:] if path.startswith("\\\\?\\") else path
