"""The feed's hash bins: which signed metadata lists which target.

The top-level ``targets`` metadata lists only the channel manifests (and archives) and
delegates every other target (packages, file lists, deltas) to ``2**BIN_BITS`` hash
bins, ``bins-00`` … ``bins-1f`` (TUF's succinct hash-bin delegation, TAP 15): a
target is in the bin named by the first bits of the SHA-256 of its path. Each bin is
signed by the targets role's own keys and threshold, so what a stolen online key can
do is unchanged. A check then reads small files whatever the feed's history (the
top-level targets, and a snapshot that names each bin's version); a download reads
the one bin of its package. python-tuf's client follows the delegation by itself.

Pure functions of metadata objects: nothing is read or written.

Imports: python-tuf's metadata API only.
"""

from __future__ import annotations

from collections.abc import Mapping

from tuf.api.metadata import Delegations, Key, Root, SuccinctRoles, TargetFile

__all__ = ["BIN_BITS", "BIN_PREFIX", "delegations", "in_top_level", "names", "split"]

#: 2**5 = 32 bins: at 1,000 releases (about 2,000 package targets) each bin holds
#: about 60 targets (~9 kB), and the snapshot names 33 files (~1.3 kB).
BIN_BITS = 5
BIN_PREFIX = "bins"


def in_top_level(target: str) -> bool:
    """Whether the top-level targets metadata lists ``target`` itself: the manifests
    and archives, which every check reads."""
    return target.startswith("manifests/")


def delegations(root: Root) -> Delegations:
    """The top-level targets' delegation of every other target to the hash bins,
    signed by the targets role's keys and threshold as ``root`` says them."""
    role = root.roles["targets"]
    keyids = sorted(role.keyids)
    keys: dict[str, Key] = {keyid: root.keys[keyid] for keyid in keyids}
    return Delegations(
        keys=keys,
        succinct_roles=SuccinctRoles(keyids, role.threshold, BIN_BITS, BIN_PREFIX),
    )


def names(delegation: Delegations) -> list[str]:
    """Every bin's role name, in order."""
    assert delegation.succinct_roles is not None
    return list(delegation.succinct_roles.get_roles())


def split(
    wanted: Mapping[str, TargetFile], delegation: Delegations
) -> tuple[dict[str, TargetFile], dict[str, dict[str, TargetFile]]]:
    """``wanted`` as the top-level targets lists it and as each bin does (every bin,
    empty ones too: a client asked about any path finds its bin)."""
    succinct = delegation.succinct_roles
    assert succinct is not None
    top: dict[str, TargetFile] = {}
    by_bin: dict[str, dict[str, TargetFile]] = {name: {} for name in names(delegation)}
    for path in sorted(wanted):
        if in_top_level(path):
            top[path] = wanted[path]
        else:
            by_bin[succinct.get_role_for_target(path)][path] = wanted[path]
    return top, by_bin
