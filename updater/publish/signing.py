"""Signing the feed's TUF metadata, and the root that says which keys may sign.

Owns how metadata is serialised, whether a key ring can sign a role, signing a role
with every available key up to (at least) its threshold, the feed's first root, and a
new root that changes one role's keys or threshold (a key rotation). Writes nothing:
:mod:`~updater.publish.publishing` decides what is signed and when it is published.

Imports: the core, the publisher's ``keys`` and :mod:`~updater.publish.workspace`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from securesystemslib.signer import SSlibKey
from tuf.api.exceptions import UnsignedMetadataError
from tuf.api.metadata import Metadata, Root, Targets
from tuf.api.serialization.json import JSONSerializer

from updater.errors import PublishError, SigningKeyError
from updater.i18n import _
from updater.publish.keys import KeyRing
from updater.publish.workspace import ROLES

__all__ = ["can_sign", "first_root", "rotated_root", "serializer", "sign"]


def serializer(role: str) -> JSONSerializer:
    """How ``role``'s metadata is written."""
    # Root is read by people (and pasted into machine configurations): keep it readable.
    return JSONSerializer(compact=role != "root")


def first_root(
    role_keys: Mapping[str, Sequence[SSlibKey]],
    thresholds: Mapping[str, int],
    keyring: KeyRing,
    *,
    expires: datetime,
) -> Metadata[Root]:
    """The feed's first root (version 1): each role's keys and threshold (1 unless
    ``thresholds`` says otherwise), signed by the root keys in ``keyring``.

    Raises:
        PublishError: a role has no keys or a threshold above its key count, or the
            root keys to sign with are missing.
    """
    root = Root(expires=expires, consistent_snapshot=True)
    for role in ROLES:
        keys = role_keys.get(role, ())
        threshold = thresholds.get(role, 1)
        if not keys:
            raise PublishError(_("Role {role} has no keys.").format(role=role))
        if not 1 <= threshold <= len({k.keyid for k in keys}):
            raise PublishError(
                _("Role {role} has {count} key(s); its threshold must be 1 to {count}.").format(
                    role=role, count=len({k.keyid for k in keys})
                )
            )
        for key in keys:
            root.add_key(key, role)
        root.roles[role].threshold = threshold
    root_md = Metadata(root)
    sign(root_md, "root", root, keyring)
    return root_md


def rotated_root(
    old_md: Metadata[Root],
    role: str,
    keyring: KeyRing,
    *,
    add: Sequence[SSlibKey],
    remove: Sequence[str],
    threshold: int | None,
    expires: datetime,
) -> tuple[Metadata[Root], list[str]]:
    """The next root after ``old_md``, with ``role``'s keys or threshold changed, and
    the warnings of signing it (see :func:`sign`).

    The new root is signed by a threshold of the old root keys and a threshold of the
    new ones, so clients that trust the old root accept it.

    Raises:
        PublishError: an unknown key, a threshold above the key count, or missing
            keys to sign with.
    """
    new_md: Metadata[Root] = Metadata.from_bytes(old_md.to_bytes())
    new_root = new_md.signed
    for keyid in remove:
        matches = [k for k in new_root.roles[role].keyids if k.startswith(keyid)]
        if len(keyid) < 4:
            raise PublishError(
                _("Give at least 4 characters of the key id to remove ('{keyid}').").format(
                    keyid=keyid
                )
            )
        if len(matches) > 1:
            raise PublishError(
                _(
                    "'{keyid}' matches {count} keys of role {role}; give more characters "
                    "of the key id."
                ).format(keyid=keyid, count=len(matches), role=role)
            )
        if not matches:
            raise PublishError(_("Role {role} has no key {keyid}.").format(role=role, keyid=keyid))
        new_root.revoke_key(matches[0], role)
    for key in add:
        if key.keyid in new_root.roles[role].keyids:
            raise PublishError(
                _("Role {role} already has the key {keyid}.").format(
                    role=role, keyid=key.keyid[:12]
                )
            )
        new_root.add_key(key, role)
    if not new_root.roles[role].keyids:
        raise PublishError(
            _("Role {role} would have no key left; add its new key in the same command.").format(
                role=role
            )
        )
    if threshold is not None:
        new_root.roles[role].threshold = threshold
    count = len(new_root.roles[role].keyids)
    if not 1 <= new_root.roles[role].threshold <= count:
        raise PublishError(
            _("Role {role} has {count} key(s); its threshold must be 1 to {count}.").format(
                role=role, count=count
            )
        )
    new_root.version += 1
    new_root.expires = expires
    new_md.signatures.clear()
    # Signed by the new root keys, and by the old ones so that clients accept it.
    root_warnings = sign(new_md, "root", new_root, keyring)
    root_warnings += sign(new_md, "root", old_md.signed, keyring, append=True)
    return new_md, root_warnings


def can_sign(role: str, root: Root, keyring: KeyRing) -> bool:
    """Whether ``keyring`` holds at least the threshold of ``role``'s keys."""
    delegation = root.roles[role]
    return sum(keyring.has(k) for k in delegation.keyids) >= delegation.threshold


def sign(
    md: Metadata[Any],
    role: str,
    root: Root | Targets,
    keyring: KeyRing,
    *,
    append: bool = False,
) -> list[str]:
    """Sign ``md`` with every available key of ``role`` as ``root`` delegates it (the
    root for a top-level role, the top-level targets for a hash bin); require the
    threshold.

    Returns a warning for each key that could not be opened (another passphrase) while
    the others still met the threshold, so that its holder knows they did not sign.

    Raises:
        PublishError: fewer keys available than the role's threshold.
    """
    delegation = root.get_delegated_role(role)
    available = [k for k in delegation.keyids if keyring.has(k)]
    if len(available) < delegation.threshold:
        raise PublishError(
            _(
                "Signing the {role} role needs {threshold} of its {count} key(s); "
                "{found} found in the key folders."
            ).format(
                role=role,
                threshold=delegation.threshold,
                count=len(delegation.keyids),
                found=len(available),
            ),
            hint=_("Pass the folder that holds the private keys with --keys."),
        )
    if not append:
        md.signatures.clear()
    signed = 0
    failures: list[SigningKeyError] = []
    for keyid in available:
        try:
            md.sign(keyring.signer(keyid), append=True)
            signed += 1
        except SigningKeyError as exc:  # e.g. another passphrase: fine if enough others sign
            failures.append(exc)
    if signed < delegation.threshold:
        raise (
            failures[0]
            if failures
            else PublishError(_("The {role} role could not be signed.").format(role=role))
        )
    try:
        root.verify_delegate(role, md.signed_bytes, md.signatures)
    except UnsignedMetadataError as exc:
        raise PublishError(
            _("The {role} signatures do not verify: {error}").format(role=role, error=exc)
        ) from exc
    return [
        _("The {role} role was signed without one of its keys: {error}").format(
            role=role, error=failure.message
        )
        for failure in failures
    ]
