"""The diagnostic report: one zip file a shop can send to support.

:func:`build_report` writes a zip with:

``doctor.txt``
    The doctor's checks, one line each (:func:`updater.support.doctor.format_check`).
``config.toml``
    The configuration with secrets removed: rebuilt from the loaded configuration, or,
    when it cannot be loaded, the file as written with secrets masked by patterns.
    Passwords in addresses become ``***``, and so do the values of command arguments
    that look like secrets (``--password=…``, ``token=…``, the argument after
    ``--password``). Paths, including ``ca_bundle``, are kept.
``history.json``
    The newest 500 entries of the history, newest first.
``versions.json``
    The updater, Python, the operating system, the libraries that matter, and the
    installed version of each configured product.
``logs/…``
    The updater's logs (``<state>/logs/*.log*``; at most the last 20 MB of each).
``root.json``, ``trusted-metadata/*.json``
    The configured root of trust and the feed metadata this PC trusts now: public,
    signed documents, useful when the feed is refused.
``errors.txt``
    Only when something could not be collected: what and why.

Nothing else is read: private keys never are (files named like keys are skipped, and
PEM private key blocks inside collected text are removed). The zip is written to a
temporary file next to ``out`` and moved into place, so ``out`` is complete or absent.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.metadata
import json
import os
import platform
import re
import sys
import uuid
import zipfile
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path
from typing import Any

import requests

from updater import __version__
from updater.errors import HTTPStatusError, NetworkError, StorageError, UpdaterError
from updater.feed.trust import METADATA_DIR
from updater.i18n import _
from updater.install.health import read_installed_version
from updater.machine.config import (
    Command,
    MachineConfig,
    ProductConfig,
    load_config,
    resolve_config_path,
)
from updater.machine.history import History
from updater.machine.state import StateDir
from updater.platform import current as current_platform
from updater.support.doctor import Check, format_check, redact_text

__all__ = [
    "HISTORY_LIMIT",
    "MAX_LOG_BYTES",
    "build_report",
    "redact_config_text",
    "render_config",
    "send_report",
]

#: How many history entries go into the report.
HISTORY_LIMIT = 500
#: The most bytes of one log file that go into the report (its end, the newest part).
MAX_LOG_BYTES = 20 * 2**20

_MASK = "***"
# Libraries whose versions matter for support, with the distributions that provide them.
_PACKAGES: dict[str, tuple[str, ...]] = {
    "tuf": ("tuf",),
    "securesystemslib": ("securesystemslib",),
    "requests": ("requests",),
    "urllib3": ("urllib3",),
    "truststore": ("truststore",),
    "cryptography": ("cryptography",),
    "psutil": ("psutil",),
    "filelock": ("filelock",),
    "PySide6": ("PySide6-Essentials", "PySide6"),
}
# Files that may hold private keys are never read, whatever their folder.
_KEY_SUFFIXES = (".key", ".pem", ".p12", ".pfx", ".ppk", ".jks", ".keystore")
_PRIVATE_KEY_BLOCK = re.compile(
    rb"-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY-----.*?(?:-----END \1PRIVATE KEY-----|\Z)", re.DOTALL
)
_SECRET_WORD = (
    r"(?:pass(?:word|wd|phrase)?|pwd|secret|token|api[-_]?key|licen[cs]e[-_]?key|credentials?)"
)
# "--password=value", "token: value", "password = 'value'" in any text.
_SECRET_ASSIGNMENT = re.compile(
    r"(?i)(\b[\w.-]*" + _SECRET_WORD + r"[\w.-]*\s*[=:]\s*[\"']?)([^\s\"',\]]+)"
)
_SECRET_OPTION = re.compile(r"(?i)^-{1,2}[\w.-]*" + _SECRET_WORD + r"[\w.-]*$")
# In a TOML list: "--password", "value" (the option and its value as two arguments).
_SECRET_OPTION_IN_LIST = re.compile(
    r"(?i)([\"']-{1,2}[\w.-]*" + _SECRET_WORD + r"[\w.-]*[\"']\s*,\s*[\"'])[^\"']*"
)
_TOP_ROLES = ("root", "timestamp", "snapshot", "targets")


def build_report(
    out: Path,
    *,
    config_path: Path | None,
    checks: list[Check],
    state_dir: Path | None,
    description: str = "",
    contact: str = "",
) -> Path:
    """Write the diagnostic report zip to ``out`` and return its path.

    Args:
        out: The zip file to write; replaced if it exists.
        config_path: The configuration file; ``None`` looks for it as the updater does
            (``$INNOVA_UPDATER_CONFIG``, else the default place).
        checks: The doctor's results (:func:`updater.support.doctor.run_doctor`).
        state_dir: The updater's state folder (history, logs, trusted metadata);
            ``None`` takes the configuration's when it loads, else leaves them out.
        description: What the person says happened (``description.txt``, with
            ``contact``: how support can reach them); left out when both are empty.

    What cannot be collected is left out and explained in ``errors.txt``.

    Raises:
        StorageError: the zip cannot be written.
    """
    out = Path(out).absolute()
    problems: list[str] = []
    config, config_text = _config_member(config_path, problems)
    if state_dir is None and config is not None:
        state_dir = config.state_dir
    state = StateDir(Path(state_dir)) if state_dir is not None else None

    members: list[tuple[str, bytes]] = [
        ("doctor.txt", "".join(format_check(c) + "\n" for c in checks).encode("utf-8")),
        ("config.toml", config_text.encode("utf-8")),
        ("history.json", _json(_history(state, problems))),
        ("versions.json", _json(_versions(config, problems))),
    ]
    said = "\n".join(
        part
        for part in (
            description.strip(),
            contact.strip()
            and "---\n" + _("How to reach me: {contact}").format(contact=contact.strip()),
        )
        if part
    )
    if said:
        members.insert(0, ("description.txt", (said + "\n").encode("utf-8")))
    if state is not None:
        members += _logs(state, problems)
        members += _trusted_metadata(state, problems)
    if config is not None:
        root = _read(config.feed.root, problems)
        if root is not None:
            members.append(("root.json", root))
    if problems:
        members.append(("errors.txt", "".join(p + "\n" for p in problems).encode("utf-8")))
    _write_zip(out, [(name, _scrub(data)) for name, data in members if not _is_key_name(name)])
    return out


#: The longest an upload of the support bundle may take (seconds).
UPLOAD_TIMEOUT = 120.0


def send_report(session: requests.Session, url: str, bundle: Path, *, machine_id: str) -> str:
    """POST the support bundle to ``url`` (body: the zip, ``application/zip``) and
    return the reference the server answered with (its first line of text, at most
    200 characters; empty if none).

    Raises:
        NetworkError: the server cannot be reached or answers with an error status.
        StorageError: the bundle cannot be read.
    """
    try:
        data = bundle.read_bytes()
    except OSError as exc:
        raise StorageError(
            _("Cannot read the support bundle {path}: {error}").format(
                path=bundle, error=exc.strerror or exc
            )
        ) from exc
    try:
        response = session.post(
            url,
            data=data,
            headers={
                "Content-Type": "application/zip",
                "X-Innova-Machine": machine_id,
                "X-Innova-Filename": bundle.name,
            },
            timeout=(15.0, UPLOAD_TIMEOUT),
        )
    except requests.RequestException as exc:
        raise NetworkError(
            _("The support bundle could not be sent: {error}").format(error=exc),
            hint=_("Check the internet connection, or save the bundle and send it by e-mail."),
        ) from exc
    if response.status_code >= 400:
        raise HTTPStatusError(
            _("The support server refused the bundle (HTTP {status}).").format(
                status=response.status_code
            ),
            hint=_("Save the bundle and send it by e-mail."),
            status=response.status_code,
        )
    first_line = response.text.strip().splitlines()[0] if response.text.strip() else ""
    return first_line[:200]


# --- configuration --------------------------------------------------------------------------


def _config_member(
    config_path: Path | None, problems: list[str]
) -> tuple[MachineConfig | None, str]:
    """The loaded configuration (or ``None``) and the text of ``config.toml``."""
    try:
        path = (
            Path(config_path).absolute() if config_path is not None else resolve_config_path(None)
        )
    except UpdaterError as exc:
        return None, _comment(_("No configuration file: {error}").format(error=exc.message))
    try:
        config = load_config(path)
    except UpdaterError as exc:
        error = exc.message
    else:
        header = _comment(
            _(
                "The configuration {file} as the updater read it; secrets are replaced by ***."
            ).format(file=path)
        )
        return config, header + render_config(config)
    try:
        raw = path.read_bytes().decode("utf-8-sig", errors="replace")
    except OSError as exc:
        if not isinstance(exc, FileNotFoundError):  # the message above says so already
            problems.append(
                _("The configuration file {file} cannot be read: {error}").format(
                    file=path, error=exc.strerror or exc
                )
            )
        return None, _comment(
            _("The configuration could not be loaded: {error}").format(error=error)
        )
    header = _comment(
        _("The configuration could not be loaded: {error}").format(error=error)
    ) + _comment(
        _("This is the file {file} as written; secrets are replaced by ***.").format(file=path)
    )
    return None, header + redact_config_text(raw)


def _comment(text: str) -> str:
    return "".join(f"# {line}\n" for line in redact_text(text).splitlines() or [""])


def redact_config_text(text: str) -> str:
    """``text`` (a configuration file as written) with passwords in addresses and
    secret-looking values (``password = "…"``, ``--token=…``) replaced by ``***``."""
    text = _SECRET_OPTION_IN_LIST.sub(r"\1" + _MASK, redact_text(text))
    return _SECRET_ASSIGNMENT.sub(r"\1" + _MASK, text)


def _toml_string(value: str) -> str:
    # A JSON string is a TOML basic string, except that TOML also wants DEL escaped.
    return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, Path):
        return _toml_string(str(value))
    if isinstance(value, str):
        return _toml_string(redact_text(value))
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    raise TypeError(f"no TOML form for {type(value).__name__}")


def _redact_command(argv: Command) -> list[str]:
    """``argv`` with the values of secret-looking arguments replaced by ``***``."""
    shown: list[str] = []
    hide_next = False
    for arg in argv:
        if hide_next:
            shown.append(_MASK)
            hide_next = False
            continue
        shown.append(_SECRET_ASSIGNMENT.sub(r"\1" + _MASK, redact_text(arg)))
        hide_next = bool(_SECRET_OPTION.match(arg))
    return shown


def _table(name: str, rows: Iterable[tuple[str, object]]) -> str:
    lines = [f"\n[{name}]"] if name else []
    lines += [f"{key} = {_toml_value(value)}" for key, value in rows if value is not None]
    return "\n".join(lines) + "\n"


def _product_rows(product: ProductConfig) -> list[tuple[str, object]]:
    version = product.version
    rows: list[tuple[str, object]] = [
        ("name", product.name),
        ("install_dir", product.install_dir),
        ("executable", product.executable),
        ("version_from", version.kind),
    ]
    if version.kind == "file":
        rows.append(("version_file", version.file))
    elif version.kind == "registry":
        rows.append(("registry_key", version.registry_key))
    else:
        rows.append(("version_executable", version.executable))
    rows.append(("data_paths", list(product.data_paths)))
    if product.prestashop is not None:
        if product.prestashop.version is not None:
            rows.append(("prestashop_version", product.prestashop.version))
        if product.prestashop.command is not None:
            rows.append(("prestashop_command", _redact_command(product.prestashop.command)))
            rows.append(("prestashop_timeout", product.prestashop.timeout))
    if product.health_check.command is not None:
        rows.append(("health_check", _redact_command(product.health_check.command)))
        rows.append(("health_timeout", product.health_check.timeout))
    return rows


def render_config(config: MachineConfig) -> str:
    """``config`` as a TOML configuration file, with secrets replaced by ``***``.

    Paths are written as the updater resolved them (absolute).
    """
    text = _table(
        "",
        [
            ("state_dir", config.state_dir),
            ("check_interval_hours", config.check_interval_hours),
            ("language", config.language),
            ("support_url", config.support_url),
        ],
    )
    feed = config.feed
    text += _table(
        "feed",
        [
            ("url", feed.url),
            ("mirrors", list(feed.mirrors)),
            ("root", feed.root),
            ("channel", feed.channel),
            ("ca_bundle", feed.ca_bundle),
        ],
    )
    text += _table(
        "retention",
        [("keep", config.retention.keep), ("max_disk_mb", config.retention.max_disk_mb)],
    )
    for product in config.products.values():
        text += _table(f"products.{product.id}", _product_rows(product))
        hooks = product.hooks
        commands = [
            (name, _redact_command(argv) if argv is not None else None)
            for name, argv in (
                ("pre_snapshot", hooks.pre_snapshot),
                ("post_swap", hooks.post_swap),
                ("post_restore", hooks.post_restore),
            )
        ]
        if any(argv is not None for _name, argv in commands):
            text += _table(f"products.{product.id}.hooks", [*commands, ("timeout", hooks.timeout)])
    return text


# --- history, versions ----------------------------------------------------------------------


def _plain(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    return value


def _history(state: StateDir | None, problems: list[str]) -> list[dict[str, object]]:
    if state is None or not state.history_db.is_file():
        return []  # never create a history where there is none
    try:
        with History(state.history_db) as history:
            entries = history.entries(limit=HISTORY_LIMIT)
    except Exception as exc:
        problems.append(_("The history cannot be read: {error}").format(error=exc))
        return []
    return [
        {field.name: _plain(getattr(entry, field.name)) for field in dataclasses.fields(entry)}
        for entry in entries
    ]


def _package_version(distributions: Sequence[str]) -> str | None:
    for distribution in distributions:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            return importlib.metadata.version(distribution)
    return None


def _versions(config: MachineConfig | None, problems: list[str]) -> dict[str, Any]:
    products: dict[str, dict[str, str | None]] = {}
    for product in config.products.values() if config is not None else ():
        installed: str | None = None
        error: str | None = None
        try:
            found = read_installed_version(
                product.install_dir, product.version, product.executable, current_platform
            )
            installed = str(found) if found is not None else None
        except Exception as exc:
            error = exc.message if isinstance(exc, UpdaterError) else str(exc)
        products[product.id] = {
            "name": product.name,
            "install_dir": str(product.install_dir),
            "installed_version": installed,
            "error": redact_text(error) if error else None,
        }
    return {
        "generated_at": datetime.now(UTC).isoformat(),
        "updater": __version__,
        "python": {
            "version": platform.python_version(),
            "implementation": platform.python_implementation(),
            "executable": sys.executable,
            "frozen": bool(getattr(sys, "frozen", False)),
        },
        "os": {
            "system": platform.system(),
            "release": platform.release(),
            "version": platform.version(),
            "machine": platform.machine(),
            "platform": platform.platform(),
        },
        "packages": {name: _package_version(dists) for name, dists in _PACKAGES.items()},
        "products": products,
    }


def _json(value: object) -> bytes:
    return (json.dumps(value, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


# --- files of the state folder --------------------------------------------------------------


def _is_key_name(name: str) -> bool:
    return name.lower().endswith(_KEY_SUFFIXES)


def _read(path: Path, problems: list[str], limit: int | None = None) -> bytes | None:
    """The content of ``path`` (its last ``limit`` bytes); ``None``, noted, if unreadable."""
    try:
        with path.open("rb") as handle:
            if limit is not None:
                size = os.fstat(handle.fileno()).st_size
                if size > limit:
                    handle.seek(size - limit)
            return handle.read()
    except OSError as exc:
        problems.append(
            _("{path} cannot be read: {error}").format(path=path, error=exc.strerror or exc)
        )
        return None


def _logs(state: StateDir, problems: list[str]) -> list[tuple[str, bytes]]:
    try:
        found = sorted(p for p in state.logs_dir.glob("*.log*") if p.is_file())
    except OSError as exc:
        problems.append(
            _("{path} cannot be read: {error}").format(
                path=state.logs_dir, error=exc.strerror or exc
            )
        )
        return []
    members = []
    for path in found:
        if _is_key_name(path.name):
            continue
        data = _read(path, problems, MAX_LOG_BYTES)
        if data is not None:
            members.append((f"logs/{path.name}", data))
    return members


def _trusted_metadata(state: StateDir, problems: list[str]) -> list[tuple[str, bytes]]:
    members = []
    for role in _TOP_ROLES:
        path = state.feed_cache / METADATA_DIR / f"{role}.json"
        if path.is_file():
            data = _read(path, problems)
            if data is not None:
                members.append((f"trusted-metadata/{role}.json", data))
    return members


def _scrub(data: bytes) -> bytes:
    """``data`` without PEM private keys and without passwords in URLs."""
    data = _PRIVATE_KEY_BLOCK.sub(b"[private key removed]", data)
    if b"://" not in data:
        return data
    text = data.decode("utf-8", errors="surrogateescape")
    return redact_text(text).encode("utf-8", errors="surrogateescape")


# --- writing --------------------------------------------------------------------------------


def _write_zip(out: Path, members: Sequence[tuple[str, bytes]]) -> None:
    temp = out.with_name(f".{out.name}.{os.getpid()}.{uuid.uuid4().hex[:12]}.tmp")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        with temp.open("xb") as handle:
            with zipfile.ZipFile(handle, "w", compression=zipfile.ZIP_DEFLATED) as archive:
                for name, data in members:
                    archive.writestr(name, data)
            handle.flush()
            os.fsync(handle.fileno())
        temp.replace(out)
    except OSError as exc:
        raise StorageError(
            _("The report {path} cannot be written: {error}").format(
                path=out, error=exc.strerror or exc
            ),
            hint=_("Choose another folder for the report, or free some disk space."),
        ) from exc
    finally:
        with contextlib.suppress(OSError):
            temp.unlink(missing_ok=True)
