"""Reading one value of the configuration: TOML values to checked Python values.

:class:`ValueReader` knows the file and its folder, and turns each TOML value into what
the configuration needs (a table with only known keys, a non-empty string, a positive
number, an id, an absolute path, a readable file, a file inside the install folder, a
command line) or raises a :class:`~updater.errors.ConfigError` that names the file, the
key path (:func:`key_path`: ``products.tpv.data_paths[0]``) and what is wrong. It also
holds the overlap rule of folders (:meth:`ValueReader.check_apart`). The tables of the
file, and what each key means, are :mod:`updater.machine._config_tables`.

May import: the configuration's model (:mod:`updater.machine._config_model`) and the
core (errors, i18n).
"""

from __future__ import annotations

import difflib
import math
import os
import re
from collections.abc import Iterable
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any, Literal

from updater.errors import ConfigError
from updater.i18n import _
from updater.machine._config_model import INSTALL_DIR_PLACEHOLDER, Command

__all__ = ["ValueReader", "key_path"]

# The same rule as product ids and channels in the release manifest (updater.feed.manifest).
_ID = re.compile(r"[a-z][a-z0-9_-]{0,63}")
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def key_path(prefix: str, *parts: str | int) -> str:
    """A TOML key path for messages: ``prefix`` (a key path already written, ``""`` at the
    top) followed by ``parts``: ``products.tpv.data_paths[0]``, ``products."a b"``."""
    text = prefix
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
            continue
        if not _BARE_KEY.fullmatch(part):
            escaped = part.encode("unicode_escape").decode("ascii").replace('"', '\\"')
            part = f'"{escaped}"'
        text = f"{text}.{part}" if text else part
    return text


def _found(value: object) -> str:
    """What kind of TOML value ``value`` is, for "expected X, found Y" messages."""
    if isinstance(value, bool):
        return _("true/false")
    if isinstance(value, int | float):
        return _("a number ({value})").format(value=value)
    if isinstance(value, str):
        return _("a string")
    if isinstance(value, list):
        return _("a list")
    if isinstance(value, dict):
        return _("a table")
    return _("a date or time")


def _has_control(text: str) -> bool:
    return any(ord(char) < 32 or ord(char) == 127 for char in text)


def _comparable(path: Path) -> tuple[str, ...]:
    """The parts of ``path`` as the file system compares them (case-folded on Windows)."""
    return Path(os.path.normcase(path)).parts


def _real(path: Path) -> Path:
    """``path`` with symbolic links resolved, as far as possible."""
    try:
        return path.resolve()
    except (OSError, RuntimeError):
        return path


def _overlap(first: Path, second: Path) -> Literal["same", "inside", "contains"] | None:
    """How ``first`` relates to ``second``: the same, inside it, containing it, or not.

    Compared both as written and with symbolic links resolved.
    """
    for a, b in ((first, second), (_real(first), _real(second))):
        pa, pb = _comparable(a), _comparable(b)
        if pa == pb:
            return "same"
        if pa[: len(pb)] == pb:
            return "inside"
        if pb[: len(pa)] == pa:
            return "contains"
    return None


class ValueReader:
    """Reads the values of one configuration; knows the file and base folder for messages
    and paths. :class:`~updater.machine._config_tables.ConfigReader` adds its tables."""

    def __init__(self, *, source: Path | None, base_dir: Path) -> None:
        self.source = source
        self.base_dir = base_dir

    # -- errors ------------------------------------------------------------------------------

    def bad(self, key: str, problem: str, hint: str | None = None) -> ConfigError:
        if self.source is not None:
            message = _("Error in the configuration file {file}, at {key}: {problem}").format(
                file=self.source, key=key, problem=problem
            )
        else:
            message = _("Error in the configuration, at {key}: {problem}").format(
                key=key, problem=problem
            )
        return ConfigError(message, hint=hint)

    def wrong_type(
        self, key: str, expected: str, value: object, *, text_expected: bool = False
    ) -> ConfigError:
        hint = None
        if text_expected and isinstance(value, int | float) and not isinstance(value, bool):
            hint = _('Write text between quotes, as in version = "8.1".')
        return self.bad(
            key,
            _("expected {expected}, found {found}.").format(expected=expected, found=_found(value)),
            hint,
        )

    def missing(self, key: str) -> ConfigError:
        return self.bad(key, _("this key is required but missing."))

    # -- tables and scalars --------------------------------------------------------------

    def table(self, value: object, key: str, allowed: Iterable[str]) -> dict[str, Any]:
        """``value`` as a table with only ``allowed`` keys."""
        if not isinstance(value, dict):
            raise self.wrong_type(key, _("a table"), value)
        allowed = tuple(allowed)
        for name in value:
            if name in allowed:
                continue
            where = key_path(key, name)
            close = difflib.get_close_matches(name, allowed, n=1)
            if close:
                problem = _("unknown key; did you mean {suggestion}?").format(suggestion=close[0])
            else:
                problem = _("unknown key; the keys allowed here are: {allowed}.").format(
                    allowed=", ".join(allowed)
                )
            raise self.bad(where, problem)
        return value

    def string(self, value: object, key: str) -> str:
        if not isinstance(value, str):
            raise self.wrong_type(key, _("a string"), value, text_expected=True)
        if not value.strip():
            raise self.bad(key, _("must not be empty."))
        if _has_control(value):
            raise self.bad(
                key,
                _("contains a control character (such as a tab or a line break)."),
                hint=self.backslash_hint(),
            )
        return value

    def backslash_hint(self) -> str:
        return _(
            "Inside double quotes a backslash starts an escape sequence (\\t is a tab): "
            "write Windows paths between single quotes, as in "
            "'C:\\Program Files\\InnovaCommerce\\TPV'."
        )

    def positive(self, value: object, key: str) -> float:
        """A number of seconds or hours: finite and greater than 0."""
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.wrong_type(key, _("a number"), value)
        number = float(value)
        if not math.isfinite(number) or number <= 0:
            raise self.bad(
                key, _("must be a number greater than 0, not {value}.").format(value=value)
            )
        return number

    def whole(self, value: object, key: str, minimum: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.wrong_type(key, _("a whole number"), value)
        if value < minimum:
            raise self.bad(
                key,
                _("must be at least {minimum}, not {value}.").format(minimum=minimum, value=value),
            )
        return value

    def identifier(self, value: str, key: str, problem: str) -> str:
        """``value`` if it is a valid id (product id, channel); ``problem`` names it otherwise."""
        if not _ID.fullmatch(value):
            raise self.bad(
                key,
                problem.format(value=value),
                hint=_(
                    "Use lowercase letters, digits, '-' and '_', starting with a letter, "
                    "at most 64 characters."
                ),
            )
        return value

    # -- paths and commands ------------------------------------------------------------------

    def path(self, value: object, key: str) -> Path:
        """An absolute, normalised path; relative ones are taken from the file's folder."""
        text = self.string(value, key)
        path = Path(text)
        if (path.drive and not path.root) or (os.name == "nt" and path.root and not path.drive):
            # "C:data" or "\data" on Windows: relative to a per-drive current folder.
            raise self.bad(
                key,
                _(
                    "{path} is not a complete path; write it with its drive, as in {example}."
                ).format(path=text, example="C:\\ProgramData\\InnovaCommerce"),
            )
        if not path.is_absolute():
            path = self.base_dir / path
        return Path(os.path.normpath(path))

    def readable_file(self, value: object, key: str, hint: str | None = None) -> Path:
        path = self.path(value, key)
        try:
            if path.is_dir():
                raise self.bad(key, _("{path} is a folder, not a file.").format(path=path), hint)
            with path.open("rb"):
                pass
        except FileNotFoundError:
            raise self.bad(
                key, _("the file {path} does not exist.").format(path=path), hint
            ) from None
        except OSError as exc:
            raise self.bad(
                key,
                _("the file {path} cannot be read: {error}").format(
                    path=path, error=exc.strerror or exc
                ),
                hint,
            ) from exc
        return path

    def relative_file(self, value: object, key: str) -> str:
        """A file inside the install folder, as written (``tpv.exe``, ``bin\\tpv.exe``)."""
        text = self.string(value, key)
        flavours = (PureWindowsPath(text), PurePosixPath(text))
        if any(p.is_absolute() or p.drive or p.root for p in flavours) or any(
            ".." in p.parts for p in flavours
        ):
            raise self.bad(
                key,
                _("{path} must be a path relative to the install folder, inside it.").format(
                    path=text
                ),
            )
        if all(part == "." for part in PureWindowsPath(text).parts):
            raise self.bad(key, _("{path} does not name a file.").format(path=text))
        return text

    def command(self, value: object, key: str) -> Command:
        """A command line: a non-empty list of strings, the first one the program."""
        if not isinstance(value, list):
            raise self.wrong_type(key, _("a list of strings"), value)
        if not value:
            raise self.bad(key, _("must name at least the program to run."))
        for index, arg in enumerate(value):
            where = key_path(key, index)
            if not isinstance(arg, str):
                raise self.wrong_type(where, _("a string"), arg, text_expected=True)
            if _has_control(arg):
                raise self.bad(
                    where,
                    _("contains a control character (such as a tab or a line break)."),
                    hint=self.backslash_hint(),
                )
            for name in _PLACEHOLDER.findall(arg):
                if "{" + name + "}" != INSTALL_DIR_PLACEHOLDER:
                    raise self.bad(
                        where,
                        _("unknown placeholder {found}; the only placeholder is {known}.").format(
                            found="{" + name + "}", known=INSTALL_DIR_PLACEHOLDER
                        ),
                    )
        program = value[0]
        if not program.strip():
            raise self.bad(key_path(key, 0), _("the program must not be empty."))
        separators = {os.sep, os.altsep} - {None}
        if (
            any(sep in program for sep in separators)
            and not program.startswith(INSTALL_DIR_PLACEHOLDER)
            and not Path(program).is_absolute()
        ):
            raise self.bad(
                key_path(key, 0),
                _(
                    "the program {program} is a relative path, which would depend on the "
                    "current folder; start it with {placeholder} or write its full path."
                ).format(program=program, placeholder=INSTALL_DIR_PLACEHOLDER),
            )
        return tuple(value)

    # -- folders that must not overlap -------------------------------------------------------

    def check_apart(self, path: Path, key: str, other: Path, other_key: str) -> None:
        """Fail when ``path`` (at ``key``) and ``other`` (at ``other_key``) overlap."""
        relation = _overlap(path, other)
        if relation is None:
            return
        if relation == "same":
            problem = _("{path} is the same as {other_key} ({other}).")
        elif relation == "inside":
            problem = _("{path} is inside {other_key} ({other}).")
        else:
            problem = _("{path} contains {other_key} ({other}).")
        raise self.bad(
            key,
            problem.format(path=path, other_key=other_key, other=other),
            hint=_(
                "Install folders are replaced by each update, data paths are restored on "
                "rollback and the state folder is the updater's own: none of them may "
                "overlap another."
            ),
        )
