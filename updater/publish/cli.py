"""``innova-release``: the publisher's tool to build, sign and publish a feed.

Each subcommand is a small function calling :mod:`updater.publish.repository`; errors
of the updater's tree are printed as one sentence (plus a hint) and exit with 1;
usage errors exit with 2 (argparse). See docs/publishing.md for a worked example.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path

from updater import __version__
from updater.cli import argparse_i18n
from updater.errors import PublishError, SigningKeyError, UpdaterError
from updater.feed.manifest import schema_json
from updater.i18n import _, ngettext
from updater.install.delta import DEFAULT_LEVEL
from updater.platform import current as current_platform
from updater.publish.keys import KeyRing, generate_key, load_public_key
from updater.publish.repository import (
    DEFAULT_CHANNELS,
    DEFAULT_DELTAS,
    DEFAULT_EXPIRY_DAYS,
    FEED_DIR,
    KEYS_DIR,
    ROLES,
    SETTINGS_FILE,
    FeedRepository,
    InstallerSpec,
    PublishResult,
    ReleaseSpec,
)

PASSPHRASE_ENV = "INNOVA_RELEASE_PASSPHRASE"


def _passphrase(path: Path) -> bytes | None:
    """Passphrase of an encrypted key: the environment, else a prompt on a terminal."""
    value = os.environ.get(PASSPHRASE_ENV)
    if value:
        return value.encode()
    if sys.stdin.isatty():
        return getpass.getpass(_("Passphrase for {path}: ").format(path=path)).encode()
    return None


def _key_folders(args: argparse.Namespace, default: Path) -> list[Path]:
    """The --keys folders (or ``default``); a folder that does not exist is an error."""
    folders = [Path(p) for p in args.keys] if args.keys else [default]
    for folder in folders:
        if args.keys and not folder.is_dir():
            raise SigningKeyError(_("The key folder {path} does not exist.").format(path=folder))
    return folders


def _keyring(args: argparse.Namespace) -> KeyRing:
    return KeyRing(_key_folders(args, Path(args.workdir) / KEYS_DIR), _passphrase)


def _new_passphrase(args: argparse.Namespace) -> bytes | None:
    """The passphrase for new keys: from --passphrase-env, else asked (at a terminal),
    or none with --no-passphrase. New keys are encrypted unless that is asked for.

    Raises:
        SigningKeyError: the variable is empty, the two answers differ or are empty, or
            there is no terminal to ask at and neither option was given.
    """
    if args.no_passphrase:
        if args.passphrase or args.passphrase_env:
            raise SigningKeyError(
                _("--no-passphrase cannot go with --passphrase or --passphrase-env.")
            )
        return None
    if not args.passphrase_env and not current_platform.stdin_is_terminal():
        raise SigningKeyError(
            _("New keys are protected by a passphrase, and there is no terminal to ask for it."),
            hint=_(
                "Give --passphrase-env VARIABLE, or --no-passphrase for a key that a "
                "scheduled job must use unattended (snapshot, timestamp)."
            ),
        )
    if args.passphrase_env:
        value = os.environ.get(args.passphrase_env)
        if not value:
            raise SigningKeyError(
                _("The environment variable {name} is empty.").format(name=args.passphrase_env)
            )
        return value.encode()
    first = getpass.getpass(_("New passphrase: "))  # --passphrase, or the default
    if not first:
        raise SigningKeyError(_("The passphrase is empty; no key was written."))
    if first != getpass.getpass(_("Repeat the passphrase: ")):
        raise SigningKeyError(_("The passphrases differ; no key was written."))
    return first.encode()


def _print_result(result: PublishResult) -> None:
    if not result.changed:
        print(_("Nothing to publish: no changes and no signature expires soon."))
    for role in ROLES:
        if role in result.signed:
            print(
                _("Signed {role} version {version}.").format(role=role, version=result.signed[role])
            )
    for target in result.new_targets:
        print(_("Published {target}").format(target=target))
    for warning in result.warnings:
        print(_("Warning: {message}").format(message=warning))
    for role in ROLES:
        if role in result.expires:
            print(
                _("{role} expires {when}").format(
                    role=role, when=result.expires[role].strftime("%Y-%m-%d %H:%M UTC")
                )
            )


# ------------------------------------------------------------------------- commands


def cmd_keygen(args: argparse.Namespace) -> int:
    passphrase = _new_passphrase(args)
    pair = generate_key(Path(args.dir), args.name, passphrase)
    print(_("Private key: {path} (keep it secret)").format(path=pair.private_path))
    print(_("Public key:  {path}").format(path=pair.public_path))
    print(_("Key id:      {keyid}").format(keyid=pair.public_key.keyid))
    return 0


def cmd_init(args: argparse.Namespace) -> int:
    workdir = Path(args.workdir)
    if (workdir / SETTINGS_FILE).exists() or (workdir / FEED_DIR).exists():
        raise PublishError(_("{path} already holds a feed.").format(path=workdir))
    workdir_existed = workdir.exists()
    keys_dir = Path(args.keys[0]) if args.keys else workdir / KEYS_DIR
    keys_dir_existed = keys_dir.exists()
    to_generate = [role for role in ROLES if not getattr(args, f"{role}_key")]
    passphrase = _new_passphrase(args) if to_generate else None
    role_keys = {}
    thresholds = {}
    generated: list[Path] = []
    expiry = {
        role: getattr(args, f"{role}_expiry")
        for role in ROLES
        if getattr(args, f"{role}_expiry") is not None
    }

    def known_passphrase(path: Path) -> bytes | None:
        return passphrase if passphrase and path.parent == keys_dir else _passphrase(path)

    try:
        for role in ROLES:
            given = getattr(args, f"{role}_key") or []
            keys = [load_public_key(Path(p)) for p in given]
            if not keys:
                pair = generate_key(keys_dir, role, passphrase)
                keys = [pair.public_key]
                generated.append(pair.private_path)
            role_keys[role] = keys
            thresholds[role] = getattr(args, f"{role}_threshold")
        repo = FeedRepository.create(
            workdir,
            role_keys=role_keys,
            thresholds=thresholds,
            keyring=KeyRing(_key_folders(args, keys_dir), known_passphrase),
            channels=args.channel or DEFAULT_CHANNELS,
            expiry_days=expiry,
        )
    except UpdaterError:
        for path in generated:
            for leftover in (path, path.with_suffix(".pub")):
                leftover.unlink(missing_ok=True)
        if not keys_dir_existed and keys_dir.is_dir() and not any(keys_dir.iterdir()):
            keys_dir.rmdir()
        if not workdir_existed and workdir.is_dir() and not any(workdir.iterdir()):
            workdir.rmdir()
        raise
    print(_("Feed workspace created in {path}").format(path=workdir))
    print(_("Publish this folder as-is: {path}").format(path=repo.feed_dir))
    print(
        _("Ship this root of trust with every client: {path}").format(
            path=repo.metadata_dir / "1.root.json"
        )
    )
    for path in generated:
        print(_("Generated key {path}").format(path=path))
    if generated:
        print(
            _(
                "Warning: move the root key to offline storage (a USB key in a safe); "
                "it is only needed to change keys or renew the root."
            )
        )
    return 0


def _read_notes(path: str) -> str:
    try:
        # utf-8-sig: Notepad's "UTF-8 with BOM" is UTF-8 too.
        return Path(path).read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise PublishError(
            _(
                "The release notes {path} are not UTF-8 text (byte {position} cannot be read)."
            ).format(path=path, position=exc.start + 1),
            hint=_("Save the file as UTF-8 (in Notepad: Save as, Encoding: UTF-8) and try again."),
        ) from exc
    except OSError as exc:
        raise PublishError(
            _("Cannot read the release notes {path}: {error}").format(
                path=path, error=exc.strerror or exc
            )
        ) from exc


def _codes(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError as exc:
        raise PublishError(
            _("'{value}' is not a comma-separated list of exit codes.").format(value=text)
        ) from exc


def cmd_add(args: argparse.Namespace) -> int:
    repo = FeedRepository(Path(args.workdir))
    installer = None
    if args.installer:
        if set(_codes(args.success_codes)) & set(_codes(args.reboot_codes)):
            raise PublishError(_("An exit code cannot mean both success and reboot needed."))
        if not args.installer_arg:
            print(
                _(
                    "Warning: no --installer-arg given; the installer must then install "
                    "silently on its own (msiexec, for example, needs /qn)."
                ),
                file=sys.stderr,
            )
        installer = InstallerSpec(
            path=Path(args.installer),
            silent_args=tuple(args.installer_arg or ()),
            success_exit_codes=_codes(args.success_codes),
            reboot_exit_codes=_codes(args.reboot_codes),
        )
    released = None
    if args.released:
        try:
            released = date.fromisoformat(args.released)
        except ValueError as exc:
            raise PublishError(
                _("'{value}' is not a date (YYYY-MM-DD).").format(value=args.released)
            ) from exc
    spec = ReleaseSpec(
        product=args.product,
        version=args.version,
        channel=args.channel,
        notes_es=_read_notes(args.notes_es),
        notes_en=_read_notes(args.notes_en),
        released=released,
        kind=args.kind,
        critical=args.critical,
        min_updater_version=args.min_updater,
        prestashop=args.prestashop,
        rollout_percent=args.rollout,
        product_name=args.product_name,
        build_dir=Path(args.from_dir) if args.from_dir else None,
        zip_path=Path(args.from_zip) if args.from_zip else None,
        installer=installer,
        deltas=args.deltas,
        delta_level=args.delta_level,
    )
    record = repo.add_release(spec)
    print(
        _("Added {product} {version} to channel {channel} (not published yet).").format(
            product=args.product, version=record["version"], channel=record["channel"]
        )
    )
    for package in record["packages"]:
        print(f"  {package['target']}  {package['size']} B  sha256:{package['sha256'][:16]}…")
        for delta in package.get("deltas", ()):
            print(
                "  "
                + _("delta from {version}: {size} B ({share:.1%} of the full package)").format(
                    version=delta["from_version"],
                    size=delta["size"],
                    share=delta["size"] / max(package["size"], 1),
                )
            )
    print(
        _("Run 'innova-release publish {workdir}' to sign and publish it.").format(
            workdir=args.workdir
        )
    )
    return 0


def cmd_set(args: argparse.Namespace) -> int:
    repo = FeedRepository(Path(args.workdir))
    critical = {"yes": True, "no": False}.get(args.critical or "")
    withdrawn = {"yes": True, "no": False}.get(args.withdrawn or "")
    if args.rollout is None and critical is None and withdrawn is None:
        raise PublishError(_("Nothing to change: give --rollout, --critical and/or --withdrawn."))
    record = repo.set_release(
        args.product, args.version, rollout_percent=args.rollout, critical=critical,
        withdrawn=withdrawn,
    )  # fmt: skip
    print(
        _(
            "{product} {version}: rollout {rollout} %, critical: {critical}, withdrawn: "
            "{withdrawn} (not published yet)."
        ).format(
            product=args.product,
            version=record["version"],
            rollout=record.get("rollout_percent", 100),
            critical=_("yes") if record.get("critical") else _("no"),
            withdrawn=_("yes") if record.get("withdrawn") else _("no"),
        )
    )
    return 0


def cmd_minimum(args: argparse.Namespace) -> int:
    repo = FeedRepository(Path(args.workdir))
    repo.set_minimum(args.product, None if args.version == "none" else args.version)
    if args.version == "none":
        print(_("{product}: no minimum version (not published yet).").format(product=args.product))
    else:
        print(
            _(
                "{product}: PCs will not install or restore versions older than {version} "
                "(not published yet)."
            ).format(product=args.product, version=args.version)
        )
    return 0


def cmd_remove(args: argparse.Namespace) -> int:
    repo = FeedRepository(Path(args.workdir))
    record = repo.remove_release(args.product, args.version)
    print(
        _("Removed {product} {version} (it was not published).").format(
            product=args.product, version=record["version"]
        )
    )
    return 0


def cmd_publish(args: argparse.Namespace) -> int:
    repo = FeedRepository(Path(args.workdir))
    _print_result(repo.publish(_keyring(args)))
    return 0


def cmd_refresh(args: argparse.Namespace) -> int:
    repo = FeedRepository(Path(args.workdir))
    _print_result(repo.refresh(_keyring(args)))
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    repo = FeedRepository(Path(args.workdir))
    report = repo.verify(url=args.url)
    for role in ROLES:
        if role in report.versions:
            print(
                _("{role}: version {version}, expires {when}").format(
                    role=role,
                    version=report.versions[role],
                    when=report.expires[role].strftime("%Y-%m-%d %H:%M UTC"),
                )
            )
    print(
        ngettext("{n} release", "{n} releases", report.releases).format(n=report.releases)
        + ", "
        + ngettext("{n} file verified.", "{n} files verified.", report.targets_checked).format(
            n=report.targets_checked
        )
    )
    for warning in report.warnings:
        print(_("Warning: {message}").format(message=warning))
    for problem in report.problems:
        print(_("Problem: {message}").format(message=problem), file=sys.stderr)
    if report.ok:
        print(_("The feed verifies."))
        return 0
    print(_("The feed does NOT verify."), file=sys.stderr)
    return 1


def cmd_rotate(args: argparse.Namespace) -> int:
    repo = FeedRepository(Path(args.workdir))
    add = [load_public_key(Path(p)) for p in args.add or ()]
    result = repo.rotate_keys(
        args.role,
        _keyring(args),
        add=add,
        remove=args.remove or (),
        threshold=args.threshold,
    )
    _print_result(result)
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    sys.stdout.write(schema_json())
    return 0


# ------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    argparse_i18n.install()
    parser = argparse.ArgumentParser(
        prog="innova-release",
        description=_("Build, sign and publish InnovaCommerce release feeds."),
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(
        name: str, func: Callable[[argparse.Namespace], int], help_text: str
    ) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(func=func)
        return p

    def passphrase_options(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--passphrase",
            action="store_true",
            help=_("ask for the new keys' passphrase (the default at a terminal)"),
        )
        p.add_argument(
            "--passphrase-env",
            metavar="VAR",
            help=_("read the new keys' passphrase from this variable"),
        )
        p.add_argument(
            "--no-passphrase",
            action="store_true",
            help=_("leave the new keys unencrypted (online keys a scheduled job uses)"),
        )

    def keys_option(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--keys",
            action="append",
            metavar="DIR",
            help=_("folder with private keys (repeatable; default: WORKDIR/keys)"),
        )

    p = command("keygen", cmd_keygen, _("Generate a signing key pair (NAME.key, NAME.pub)."))
    p.add_argument("name", help=_("key name, e.g. root-1"))
    p.add_argument("--dir", default=KEYS_DIR, help=_("where to write the key (default: keys)"))
    passphrase_options(p)

    p = command("init", cmd_init, _("Create a feed workspace with its keys and roles."))
    p.add_argument("workdir", help=_("the workspace folder to create"))
    p.add_argument(
        "--keys",
        action="append",
        metavar="DIR",
        help=_(
            "folder with private keys (repeatable); keys that init generates go to the "
            "first one (default: WORKDIR/keys)"
        ),
    )
    passphrase_options(p)
    p.add_argument(
        "--channel",
        action="append",
        help=_("a channel, most stable first (repeatable; default: stable, beta)"),
    )
    for role in ROLES:
        p.add_argument(
            f"--{role}-key",
            action="append",
            metavar="PUB",
            help=_("public key file of the {role} role (repeatable; default: generate one)").format(
                role=role
            ),
        )
        p.add_argument(
            f"--{role}-threshold",
            type=int,
            default=1,
            metavar="N",
            help=_("signatures needed for {role} (default: 1)").format(role=role),
        )
        p.add_argument(
            f"--{role}-expiry",
            type=int,
            metavar="DAYS",
            help=_("validity of {role} signatures in days (default: {days})").format(
                role=role, days=DEFAULT_EXPIRY_DAYS[role]
            ),
        )

    p = command("add", cmd_add, _("Add a release of a product (published by 'publish')."))
    p.add_argument("workdir")
    p.add_argument("--product", required=True, help=_("product id, e.g. tpv"))
    p.add_argument("--product-name", help=_("product name shown to users"))
    p.add_argument("--version", required=True, help=_("version (PEP 440), e.g. 3.4.1"))
    source = p.add_mutually_exclusive_group()
    source.add_argument("--from-dir", metavar="DIR", help=_("build folder to pack as a zip"))
    source.add_argument("--from-zip", metavar="ZIP", help=_("zip made by another build system"))
    p.add_argument("--installer", metavar="FILE", help=_("Windows installer (.exe or .msi)"))
    p.add_argument(
        "--installer-arg",
        action="append",
        metavar="ARG",
        help=_("silent-install argument of the installer (repeatable)"),
    )
    p.add_argument(
        "--success-codes", default="0", help=_("installer exit codes meaning success (0)")
    )
    p.add_argument(
        "--reboot-codes",
        default="3010,1641",
        help=_("installer exit codes meaning success with a reboot pending (3010,1641)"),
    )
    p.add_argument(
        "--deltas",
        type=int,
        default=DEFAULT_DELTAS,
        metavar="N",
        help=_("make delta packages from the N newest earlier releases (default: 3; 0: none)"),
    )
    p.add_argument(
        "--delta-level",
        type=int,
        default=DEFAULT_LEVEL,
        choices=range(1, 23),
        metavar="1-22",
        help=_("zstd level of the deltas (default: 19; higher is smaller and slower)"),
    )
    p.add_argument("--notes-es", required=True, metavar="FILE", help=_("Spanish notes (Markdown)"))
    p.add_argument("--notes-en", required=True, metavar="FILE", help=_("English notes (Markdown)"))
    p.add_argument(
        "--kind",
        choices=["bugfix", "feature"],
        help=_("default: bugfix when only the micro version changed, else feature"),
    )
    p.add_argument("--channel", default="stable", help=_("channel (default: stable)"))
    p.add_argument("--released", metavar="YYYY-MM-DD", help=_("release date (default: today)"))
    p.add_argument("--prestashop", metavar="SPEC", help=_("supported PrestaShop versions"))
    p.add_argument("--critical", action="store_true", help=_("users cannot skip this update"))
    p.add_argument("--rollout", type=int, metavar="PERCENT", help=_("staged rollout percentage"))
    p.add_argument("--min-updater", metavar="VERSION", help=_("oldest updater that may install"))

    p = command("set", cmd_set, _("Change a release's rollout, critical flag or withdrawal."))
    p.add_argument("workdir")
    p.add_argument("product")
    p.add_argument("version")
    p.add_argument("--rollout", type=int, metavar="PERCENT", help=_("0 halts the rollout"))
    p.add_argument("--critical", choices=["yes", "no"])
    p.add_argument(
        "--withdrawn",
        choices=["yes", "no"],
        help=_("yes: no PC installs this release or restores it again"),
    )

    p = command(
        "minimum",
        cmd_minimum,
        _("Set the oldest version PCs may install or restore (older ones have a flaw)."),
    )
    p.add_argument("workdir")
    p.add_argument("product")
    p.add_argument("version", help=_("a version, or 'none' for no limit"))

    p = command("remove", cmd_remove, _("Remove a release that is not published yet."))
    p.add_argument("workdir")
    p.add_argument("product")
    p.add_argument("version")

    p = command("publish", cmd_publish, _("Sign and publish what changed."))
    p.add_argument("workdir")
    keys_option(p)

    p = command(
        "refresh", cmd_refresh, _("Renew the timestamp and expiring signatures, nothing else.")
    )
    p.add_argument("workdir")
    keys_option(p)

    p = command("verify", cmd_verify, _("Verify the feed as a client would, and every file."))
    p.add_argument("workdir")
    p.add_argument(
        "--url", help=_("verify the hosted copy at this address instead of the local feed/")
    )

    p = command("rotate-keys", cmd_rotate, _("Change a role's keys or threshold (new root)."))
    p.add_argument("workdir")
    p.add_argument("--role", required=True, choices=ROLES)
    p.add_argument("--add", action="append", metavar="PUB", help=_("public key to add"))
    p.add_argument("--remove", action="append", metavar="KEYID", help=_("key id to remove"))
    p.add_argument("--threshold", type=int, metavar="N", help=_("new threshold"))
    keys_option(p)

    command("schema", cmd_schema, _("Print the manifest's JSON Schema."))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result: int = args.func(args)
    except UpdaterError as exc:
        print(_("Error: {message}").format(message=exc.message), file=sys.stderr)
        if exc.hint:
            print(exc.hint, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(_("Cancelled."), file=sys.stderr)
        return 130
    return result


if __name__ == "__main__":
    sys.exit(main())
