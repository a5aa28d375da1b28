"""Signing keys of the publisher: generate, store, load.

A key is a pair of files: ``NAME.key``, the Ed25519 private key as PEM PKCS#8
(encrypted when a passphrase is given, readable by its owner only), and ``NAME.pub``,
the public key as TUF key JSON (with its key id). Public keys are all that the feed's
metadata and the configuration of other people need; private keys are found by key id
in key directories (:class:`KeyRing`) only when something must be signed.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    BestAvailableEncryption,
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_pem_private_key,
)
from securesystemslib.signer import CryptoSigner, Signer, SSlibKey

from updater.errors import SigningKeyError
from updater.i18n import _
from updater.platform import current as current_platform

PRIVATE_SUFFIX = ".key"
PUBLIC_SUFFIX = ".pub"

#: Asked for the passphrase of an encrypted private key; returns None when there is none.
PassphraseProvider = Callable[[Path], bytes | None]


def _no_passphrase(_path: Path) -> bytes | None:
    return None


@dataclass(frozen=True)
class KeyPair:
    """Where a generated key was written."""

    private_path: Path
    public_path: Path
    public_key: SSlibKey


def _write_new(path: Path, data: bytes, mode: int, *, private: bool = False) -> None:
    """Create ``path`` with ``mode`` (never over an existing file) and fsync it. A
    ``private`` file is made its owner's only (on Windows through its ACL) before
    anything is written into it."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), mode)
    try:
        if private:
            current_platform.restrict_to_owner(path)
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def public_key_json(key: SSlibKey) -> bytes:
    """The ``.pub`` file content of ``key``."""
    document = {"keyid": key.keyid, **key.to_dict()}
    return (json.dumps(document, indent=2, sort_keys=True) + "\n").encode()


def generate_key(directory: Path, name: str, passphrase: bytes | None = None) -> KeyPair:
    """Generate an Ed25519 key pair as ``directory/NAME.key`` and ``directory/NAME.pub``.

    The private key file is created readable by its owner only (mode 0600 on POSIX;
    on Windows the file inherits the folder's ACL, so keep keys in a private folder).

    Raises:
        SigningKeyError: the name is unusable or a key of that name already exists.
    """
    if not name or any(c in name for c in "/\\:") or name.startswith("."):
        raise SigningKeyError(_("'{name}' cannot be used as a key name.").format(name=name))
    private_path = directory / f"{name}{PRIVATE_SUFFIX}"
    public_path = directory / f"{name}{PUBLIC_SUFFIX}"
    for path in (private_path, public_path):
        if path.exists():
            raise SigningKeyError(
                _("{path} already exists; choose another key name.").format(path=path)
            )
    private_key = Ed25519PrivateKey.generate()
    encryption = BestAvailableEncryption(passphrase) if passphrase else NoEncryption()
    pem = private_key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, encryption)
    public_key = SSlibKey.from_crypto(private_key.public_key())
    try:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        _write_new(private_path, pem, 0o600, private=True)
        _write_new(public_path, public_key_json(public_key), 0o644)
    except OSError as exc:
        raise SigningKeyError(
            _("Cannot write the key to {path}: {error}").format(
                path=directory, error=exc.strerror or exc
            )
        ) from exc
    return KeyPair(private_path, public_path, public_key)


def load_public_key(path: Path) -> SSlibKey:
    """Read a ``.pub`` file.

    Raises:
        SigningKeyError: the file is missing or is not a public key of ours.
    """
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        keyid = document.pop("keyid")
        key = SSlibKey.from_dict(keyid, document)
        computed = _computed_keyid(key)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise SigningKeyError(
            _("{path} is not a readable public key file.").format(path=path)
        ) from exc
    if computed != key.keyid:
        raise SigningKeyError(_("{path} is not a readable public key file.").format(path=path))
    return key


def _computed_keyid(key: SSlibKey) -> str | None:
    """The key id that an Ed25519 key's content gives, or None for other key types."""
    if key.keytype != "ed25519" or key.scheme != "ed25519":
        return None
    public = Ed25519PublicKey.from_public_bytes(bytes.fromhex(key.keyval["public"]))
    return str(SSlibKey.from_crypto(public).keyid)


def load_signer(
    private_path: Path,
    public_key: SSlibKey | None = None,
    passphrase: PassphraseProvider = _no_passphrase,
) -> Signer:
    """Load a private key file as a signer.

    Raises:
        SigningKeyError: unreadable file, wrong or missing passphrase, or a private key
            that does not belong to ``public_key``.
    """
    try:
        pem = private_path.read_bytes()
    except OSError as exc:
        raise SigningKeyError(
            _("Cannot read the private key {path}: {error}").format(
                path=private_path, error=exc.strerror or exc
            )
        ) from exc
    encrypted = b"ENCRYPTED" in pem.split(b"\n", 1)[0]
    secret = passphrase(private_path) if encrypted else None
    if encrypted and not secret:
        raise SigningKeyError(
            _("The private key {path} is protected by a passphrase and none was given.").format(
                path=private_path
            ),
            hint=_("Set INNOVA_RELEASE_PASSPHRASE or run the command in a terminal."),
        )
    try:
        private_key = load_pem_private_key(pem, password=secret)
    except (ValueError, TypeError) as exc:
        raise SigningKeyError(
            _("Cannot open the private key {path}: wrong passphrase or damaged file.").format(
                path=private_path
            )
        ) from exc
    try:
        return CryptoSigner(private_key, public_key)
    except ValueError as exc:
        raise SigningKeyError(
            _("The private key {path} does not match its public key.").format(path=private_path)
        ) from exc


class KeyRing:
    """The private keys available for signing, found by key id in key directories.

    Private keys are only opened (and passphrases only asked for) when a role that
    they belong to must be signed.
    """

    def __init__(
        self, directories: Iterable[Path], passphrase: PassphraseProvider = _no_passphrase
    ) -> None:
        self._passphrase = passphrase
        self._private: dict[str, tuple[Path, SSlibKey]] = {}
        self._signers: dict[str, Signer] = {}
        for directory in directories:
            if not directory.is_dir():
                continue
            for public_path in sorted(directory.glob(f"*{PUBLIC_SUFFIX}")):
                private_path = public_path.with_suffix(PRIVATE_SUFFIX)
                if not private_path.exists():
                    continue
                key = load_public_key(public_path)
                self._private.setdefault(key.keyid, (private_path, key))

    def has(self, keyid: str) -> bool:
        return keyid in self._private

    def signer(self, keyid: str) -> Signer:
        """The signer of ``keyid``.

        Raises:
            SigningKeyError: no private key with that id, or it cannot be opened.
        """
        if keyid not in self._signers:
            if keyid not in self._private:
                raise SigningKeyError(
                    _("The private key {keyid} is not in the key folders given.").format(
                        keyid=keyid[:12]
                    )
                )
            path, key = self._private[keyid]
            self._signers[keyid] = load_signer(path, key, self._passphrase)
        return self._signers[keyid]
