"""``innova-update``: the command line for IT staff (see docs/cli.md).

``main`` parses, sets up language and logs, loads the configuration, and dispatches to
one small function per subcommand; each calls :class:`updater.service.UpdaterService`
and returns a result document plus an exit code. One renderer prints it as short
human text in the user's language or, with ``--json``, as one JSON document on stdout
(logs go to stderr and the log files). Errors become exit codes in one place
(:mod:`updater.cli.exitcodes`).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from updater import __version__
from updater.cli import argparse_i18n
from updater.cli.exitcodes import Exit, exit_code_for, worst
from updater.errors import ConfigError, UpdaterError
from updater.i18n import _, current_language, format_size, ngettext, set_language
from updater.locations import feed_url
from updater.machine.config import MachineConfig, load_config, resolve_config_path
from updater.machine.history import history_label
from updater.machine.logs import LoggingObserver, log_failure, log_outcome, setup_logging
from updater.observer import NullObserver, Observer, Observers, Step
from updater.service import UpdaterService

log = logging.getLogger("updater.cli")
JSON_SCHEMA = 1

Result = tuple[dict[str, Any], list[str], Exit]  # JSON document, human lines, exit code


# ----------------------------------------------------------------- terminal observer


class TerminalObserver(NullObserver):
    """Prints one short line when each stage starts (not with --silent or --json)."""

    def __init__(self, write: Callable[[str], None]) -> None:
        self._write = write

    def step(self, product: str, step: Step) -> None:
        labels = {
            Step.CHECK: _("Checking for updates…"),
            Step.PREFLIGHT: _("Checking that the update can be installed…"),
            Step.DOWNLOAD: _("Downloading…"),
            Step.STAGE: _("Verifying and unpacking…"),
            Step.SNAPSHOT: _("Saving a copy of the current version…"),
            Step.SWAP: _("Installing…"),
            Step.HEALTH_CHECK: _("Checking the new version…"),
            Step.COMMIT: _("Finishing…"),
            Step.ROLLBACK: _("Restoring the previous version…"),
            Step.RESTORE: _("Restoring a saved version…"),
            Step.RECOVERY: _("Finishing an interrupted update…"),
        }
        prefix = "" if product == "*" else f"{product}: "
        self._write(prefix + labels.get(step, step.value))


# ------------------------------------------------------------------------- commands


def _version_text(value: object) -> str | None:
    return None if value is None else str(value)


def cmd_check(service: UpdaterService, args: argparse.Namespace) -> Result:
    if args.if_due:
        polled = service.poll()
        if polled.check is None:
            when = polled.next_check.strftime("%Y-%m-%d %H:%M UTC") if polled.next_check else "?"
            line = _("No check is due yet; the next one is at {when}.").format(when=when)
            waiting: dict[str, Any] = {"due": False, "next_check": _iso(polled.next_check)}
            return waiting, [line], Exit.OK
        result = polled.check
    else:
        result = service.check(args.products or None, ignore_rollout=args.ignore_rollout)
    products = []
    lines = []
    if result.offline:
        lines.append(
            _(
                "The update server cannot be reached; this is what the check of {when} found."
            ).format(when=result.checked_at.strftime("%Y-%m-%d %H:%M UTC"))
        )
    for choice in result.choices:
        name = service.config.product(choice.product).name
        installed = _version_text(choice.installed)
        offer = None
        if choice.offer is not None:
            release = choice.offer
            package = release.zip_package or release.installer_package
            offer = {
                "version": str(release.version),
                "kind": release.kind.value,
                "critical": release.critical,
                "size": package.size if package else None,
                "released": release.released.isoformat(),
                "prestashop": str(release.prestashop) if release.prestashop else None,
                "notes": release.notes_for(current_language()),
            }
            kind = _("bug-fix") if release.kind.value == "bugfix" else _("new features")
            line = _(
                "{name}: {installed} installed; update to {version} available ({kind}, {size})."
            )
            lines.append(
                line.format(
                    name=name,
                    installed=installed or _("not installed"),
                    version=release.version,
                    kind=kind,
                    size=format_size(offer["size"]),
                )
                + (" " + _("Critical: it cannot be skipped.") if release.critical else "")
            )
        else:
            lines.append(
                _("{name}: {installed} installed; up to date.").format(
                    name=name, installed=installed or _("not installed")
                )
            )
        for refused in choice.not_offered:
            lines.append(
                "  "
                + _("{version} is not offered: {reason}.").format(
                    version=refused.release.version, reason=refused.reason
                )
            )
        products.append(
            {
                "product": choice.product,
                "installed": installed,
                "offer": offer,
                "not_offered": [
                    {"version": str(n.release.version), "reason": n.reason}
                    for n in choice.not_offered
                ],
            }
        )
    document: dict[str, Any] = {
        "due": True,
        "channel": result.channel,
        "checked_at": result.checked_at.isoformat(),
        "offline": result.offline,
        "products": products,
    }
    code = Exit.UPDATES_AVAILABLE if any(p["offer"] for p in products) else Exit.OK
    return document, lines, code


def cmd_update(service: UpdaterService, args: argparse.Namespace) -> Result:
    products = args.products or list(service.config.products)
    if args.to and len(products) != 1:
        raise ConfigError(_("--to needs exactly one product."))
    entries = []
    lines = []
    codes: list[Exit] = []
    for product_id in products:
        name = service.config.product(product_id).name
        try:
            result = service.update(
                product_id,
                only=args.only,
                to_version=args.to,
                if_running=args.if_running,
                wait_seconds=args.wait_seconds,
                ignore_rollout=args.ignore_rollout,
                dry_run=args.dry_run,
            )
        except UpdaterError as exc:
            code = exit_code_for(exc)
            log_failure(log, product_id, "update", exc)
            codes.append(code)
            entries.append({"product": product_id, "outcome": "failed", **_error(exc, code)})
            lines.append(f"{name}: {exc.message}" + (f" {exc.hint}" if exc.hint else ""))
            continue
        entry = {
            "product": product_id,
            "outcome": result.outcome,
            "from_version": _version_text(result.from_version),
            "to_version": _version_text(result.to_version),
            "reboot_required": result.reboot_required,
            "method": result.method,
            "downloaded_bytes": result.downloaded_bytes,
        }
        entries.append(entry)
        if result.outcome == "updated":
            lines.append(
                _("{name} updated to {version}.").format(name=name, version=result.to_version)
            )
            if result.method == "delta":
                lines.append(
                    "  "
                    + _("Only the changes were downloaded: {size}.").format(
                        size=format_size(result.downloaded_bytes)
                    )
                )
            if result.reboot_required:
                lines.append(_("Restart the PC to finish the update."))
            codes.append(Exit.REBOOT_REQUIRED if result.reboot_required else Exit.OK)
        elif result.outcome == "dry_run":
            lines.append(
                _("{name} would be updated from {old} to {new}; nothing was changed.").format(
                    name=name, old=result.from_version, new=result.to_version
                )
            )
            codes.append(Exit.OK)
        else:
            lines.append(_("{name} is up to date.").format(name=name))
            codes.append(Exit.OK)
    return {"products": entries}, lines, worst(codes)


def cmd_rollback(service: UpdaterService, args: argparse.Namespace) -> Result:
    result = service.restore(
        args.product, snapshot=args.to, if_running=args.if_running, wait_seconds=args.wait_seconds
    )
    name = service.config.product(args.product).name
    lines = [_("{name} restored to {version}.").format(name=name, version=result.to_version)]
    if result.changed_data:
        lines.append(
            _(
                "These data changed since that copy was saved; their newer content is kept "
                "in the saved copy {id}: {paths}"
            ).format(
                id=result.undo.id if result.undo else "?",
                paths=", ".join(str(p) for p in result.changed_data),
            )
        )
    if result.undo is not None:
        lines.append(
            _("To undo this restore: innova-update rollback {product} --to {id}").format(
                product=args.product, id=result.undo.id
            )
        )
    document = {
        "product": args.product,
        "from_version": _version_text(result.from_version),
        "to_version": _version_text(result.to_version),
        "restored": result.restored.id,
        "undo": result.undo.id if result.undo else None,
        "changed_data": [str(p) for p in result.changed_data],
    }
    return document, lines, Exit.OK


def _snapshot_doc(snapshot: Any) -> dict[str, Any]:
    return {
        "id": snapshot.id,
        "version": snapshot.version,
        "taken_at": snapshot.taken_at.isoformat(),
        "reason": snapshot.shown_reason,
        "size": snapshot.size,
    }


def cmd_status(service: UpdaterService, args: argparse.Namespace) -> Result:
    status = service.status()
    lines = []
    products = []
    for item in status.products:
        last = item.last_operation
        installed = _version_text(item.installed)
        lines.append(
            ngettext(
                "{name}: {installed}; {count} saved copy.",
                "{name}: {installed}; {count} saved copies.",
                len(item.snapshots),
            ).format(
                name=item.name,
                installed=installed or _("not installed"),
                count=len(item.snapshots),
            )
        )
        if item.interrupted:
            lines.append("  " + _("An interrupted update will be finished or undone first."))
        if last is not None and last.outcome.value != "success":
            lines.append(
                "  "
                + _("Last {operation} ({when}): {outcome}. {message}")
                .format(
                    operation=history_label(last.operation.value),
                    when=last.started_at.strftime("%Y-%m-%d %H:%M"),
                    outcome=history_label(last.outcome.value),
                    message=last.shown_message or "",
                )
                .strip()
            )
        products.append(
            {
                "product": item.product,
                "installed": installed,
                "interrupted": item.interrupted,
                "last_operation": _history_doc(last) if last else None,
                "snapshots": [_snapshot_doc(s) for s in item.snapshots],
            }
        )
    when = status.last_check.strftime("%Y-%m-%d %H:%M UTC") if status.last_check else _("never")
    lines.append(_("Last successful check: {when}.").format(when=when))
    lines.append(
        _("State folder {path}: {size} used.").format(
            path=status.state_dir, size=format_size(status.disk_used)
        )
    )
    prefs = service.preferences()
    config = service.config
    lines.append(
        _("Channel {channel}; a check every {hours} hours.").format(
            channel=config.feed.channel, hours=f"{config.check_interval_hours:g}"
        )
    )
    if prefs.auto_install_bugfix:
        hours = prefs.opening_hours
        lines.append(
            _("Bug-fix updates install by themselves outside opening hours ({opens}-{closes}).")
            .format(opens=hours.opens.strftime("%H:%M"), closes=hours.closes.strftime("%H:%M"))
            if hours is not None
            else _("Bug-fix updates install by themselves.")
        )  # fmt: skip
    for product_id, versions in prefs.skipped.items():
        lines.append(
            _("Skipped by the shop owner: {product} {versions}.").format(
                product=product_id, versions=", ".join(versions)
            )
        )
    preferences = prefs.to_json()
    preferences.pop("version")
    preferences.pop("announced")
    document = {
        "channel": status.channel,
        "check_interval_hours": config.check_interval_hours,
        "preferences": preferences,
        "last_check": status.last_check.isoformat() if status.last_check else None,
        "state_dir": str(status.state_dir),
        "disk_used": status.disk_used,
        "products": products,
    }
    return document, lines, Exit.OK


def _history_doc(entry: Any) -> dict[str, Any]:
    return {
        "id": entry.id,
        "started_at": entry.started_at.isoformat(),
        "finished_at": entry.finished_at.isoformat() if entry.finished_at else None,
        "operation": entry.operation.value,
        "product": entry.product,
        "from_version": entry.from_version,
        "to_version": entry.to_version,
        "outcome": entry.outcome.value,
        "error_code": entry.error_code,
        "message": entry.shown_message,
        "duration_seconds": entry.duration_seconds,
    }


def cmd_history(service: UpdaterService, args: argparse.Namespace) -> Result:
    entries = service.history(args.product, limit=args.limit)
    lines = [
        "{when}  {operation:<8} {product:<6} {versions:<20} {outcome}".format(
            when=e.started_at.strftime("%Y-%m-%d %H:%M"),
            operation=history_label(e.operation.value),
            product=e.product or "-",
            versions=f"{e.from_version or ''} -> {e.to_version or ''}"
            if e.to_version or e.from_version
            else "",
            outcome=history_label(e.outcome.value)
            + (f": {e.shown_message}" if e.shown_message else ""),
        )
        for e in entries
    ] or [_("No history yet.")]
    return {"entries": [_history_doc(e) for e in entries]}, lines, Exit.OK


def cmd_snapshots(service: UpdaterService, args: argparse.Namespace) -> Result:
    products = [args.product] if args.product else list(service.config.products)
    document: dict[str, Any] = {"products": []}
    lines = []
    for product_id in products:
        deleted = service.prune(product_id, args.keep) if args.prune else []
        kept = service.snapshots(product_id)
        name = service.config.product(product_id).name
        lines.append(f"{name}:")
        for snapshot in kept:
            lines.append(
                "  {id}  {version:<10} {when}  {size:>9}  {reason}".format(
                    id=snapshot.id,
                    version=snapshot.version or "?",
                    when=snapshot.taken_at.strftime("%Y-%m-%d %H:%M"),
                    size=format_size(snapshot.size),
                    reason=snapshot.shown_reason,
                )
            )
        if not kept:
            lines.append("  " + _("No saved copies."))
        for snapshot in deleted:
            lines.append(
                "  "
                + _("Deleted {id} ({version}).").format(id=snapshot.id, version=snapshot.version)
            )
        document["products"].append(
            {
                "product": product_id,
                "snapshots": [_snapshot_doc(s) for s in kept],
                "deleted": [_snapshot_doc(s) for s in deleted],
            }
        )
    return document, lines, Exit.OK


def cmd_apply_requests(service: UpdaterService, args: argparse.Namespace) -> Result:
    count = service.apply_requests()
    lines = [_("Requests run: {count}.").format(count=count)]
    return {"requests": count}, lines, Exit.OK


def cmd_setup_machine(config_path: Path | None, args: argparse.Namespace) -> Result:
    from updater.machine.setup import (
        parse_time_of_day,
        remove_machine,
        setup_machine,
    )
    from updater.platform import current

    if args.remove:
        removed = remove_machine(
            current, keep_snapshots=args.keep_snapshots, config_path=config_path
        )
        lines = [
            _("Removed {count} item(s) of the updater's state.").format(count=len(removed.removed))
        ]
        if removed.kept:
            lines.append(_("Kept: {paths}").format(paths=", ".join(str(p) for p in removed.kept)))
        document = {
            "removed": [str(p) for p in removed.removed],
            "kept": [str(p) for p in removed.kept],
        }
        return document, lines, Exit.OK
    program = Path(sys.executable if getattr(sys, "frozen", False) else sys.argv[0]).absolute()
    result = setup_machine(
        current,
        program=program,
        config_from=Path(args.config_from) if args.config_from else None,
        feed_url=args.feed_url,
        update_at=None if args.no_task else parse_time_of_day(args.update_at),
        update_args=args.update_args,
        config_path=config_path,
    )
    lines = [
        _("Configuration: {path}").format(path=result.config_path),
        _("State folder: {path} (administrators only)").format(path=result.state_dir),
    ]
    if result.task:
        lines.append(
            _("Nightly update: task '{task}' at {time}.").format(
                task=result.task, time=args.update_at
            )
        )
    summary: dict[str, Any] = {
        "config": str(result.config_path),
        "state_dir": str(result.state_dir),
        "task": result.task,
    }
    return summary, lines, Exit.OK


def cmd_doctor(config_path: Path | None, args: argparse.Namespace) -> Result:
    from updater.support.doctor import run_doctor

    checks = run_doctor(config_path)
    lines = []
    for check in checks:
        if check.ok:
            lines.append(f"OK    {check.id}: {check.message}")
        else:
            lines.append(f"FIX   {check.id}: {check.message} {check.fix or ''}".rstrip())
    document = {"checks": [dataclasses.asdict(c) for c in checks]}
    return document, lines, Exit.OK if all(c.ok for c in checks) else Exit.PREFLIGHT


def cmd_report(config_path: Path | None, args: argparse.Namespace) -> Result:
    from updater.support.doctor import run_doctor
    from updater.support.report import build_report

    state_dir: Path | None = None
    try:
        state_dir = load_config(config_path).state_dir if config_path else None
    except ConfigError:
        state_dir = None
    checks = run_doctor(config_path)
    out = build_report(Path(args.out), config_path=config_path, checks=checks, state_dir=state_dir)
    lines = [
        _("Support bundle written to {path}; send it to InnovaCommerce support.").format(path=out)
    ]
    return {"path": str(out)}, lines, Exit.OK


def cmd_demo(args: argparse.Namespace, write: Callable[[str], None]) -> Result:
    from updater.demo import run_demo

    lines: list[str] = []

    def out(line: str) -> None:
        lines.append(line)
        if not args.json:
            write(line)

    result = run_demo(Path(args.dir) if args.dir else None, keep=args.keep, out=out)
    document = {
        "ok": result.ok,
        "workdir": str(result.workdir) if args.keep else None,
        "config": str(result.config_path) if args.keep else None,
        "steps": result.steps,
    }
    if args.json:
        document["lines"] = lines
    # Human output was printed as the demo went.
    return document, [], Exit.OK if result.ok else Exit.FAILED


# --------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    argparse_i18n.install()
    parser = argparse.ArgumentParser(
        prog="innova-update",
        description=_(
            "Check for, install and roll back InnovaCommerce TPV and ERP updates "
            "from a signed release feed."
        ),
        epilog=_("Exit codes and every option: docs/cli.md."),
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", metavar="PATH", help=_("the machine configuration file"))
    common.add_argument(
        "--feed", metavar="URL_OR_FOLDER", help=_("use this feed (e.g. a USB stick) instead")
    )
    common.add_argument("--json", action="store_true", help=_("print one JSON document"))
    common.add_argument("--verbose", action="store_true", help=_("print details of each step"))
    common.add_argument("--log-file", metavar="PATH", help=_("also write the log to this file"))
    common.add_argument("--lang", choices=["es", "en"], help=_("language of the messages"))
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, parents=[common], help=help_text, description=help_text)

    def running_options(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--if-running",
            choices=["fail", "wait", "close"],
            default="fail",
            help=_("when the program is open: fail (default), wait, or close it"),
        )
        p.add_argument(
            "--wait-seconds",
            type=float,
            default=300.0,
            metavar="S",
            help=_("how long to wait for it, or to let it close (default 300)"),
        )

    p = command("check", _("List the available updates."))
    p.add_argument("products", nargs="*", metavar="PRODUCT")
    p.add_argument(
        "--if-due",
        action="store_true",
        help=_(
            "check only when the poll schedule says so (interval with jitter, backoff "
            "after failures): for a task that runs every few minutes"
        ),
    )
    p.add_argument(
        "--ignore-rollout", action="store_true", help=_("offer releases still being rolled out")
    )
    p = command("update", _("Download and install updates."))
    p.add_argument("products", nargs="*", metavar="PRODUCT")
    p.add_argument("--silent", action="store_true", help=_("print only the outcome"))
    p.add_argument(
        "--only",
        choices=["bugfix", "feature", "all"],
        default="all",
        help=_("which kinds of update to install (default: all)"),
    )
    p.add_argument("--to", metavar="VERSION", help=_("install exactly this version"))
    p.add_argument("--dry-run", action="store_true", help=_("check everything, change nothing"))
    p.add_argument(
        "--ignore-rollout", action="store_true", help=_("install a release still being rolled out")
    )
    running_options(p)
    p = command("rollback", _("Restore a saved previous version."))
    p.add_argument("product")
    p.add_argument("--to", metavar="VERSION_OR_ID", help=_("which saved copy (default: newest)"))
    running_options(p)
    command("status", _("Installed versions, last check, saved copies."))
    p = command("history", _("Past checks, updates and restores."))
    p.add_argument("product", nargs="?")
    p.add_argument("--limit", type=int, default=50, help=_("how many entries (default 50)"))
    p = command("snapshots", _("List (and prune) the saved copies."))
    p.add_argument("product", nargs="?")
    p.add_argument("--prune", action="store_true", help=_("delete those beyond --keep"))
    p.add_argument("--keep", type=int, help=_("how many to keep (default: configuration)"))
    command("doctor", _("Check this PC for what could stop an update."))
    p = command("report", _("Write a support bundle (zip)."))
    p.add_argument("--out", required=True, metavar="FILE")
    command(
        "apply-requests",
        _("Run the updates and restores the tray asked for (run as SYSTEM by the "
          "on-demand task; see docs/deploying.md)."),
    )  # fmt: skip
    p = command(
        "setup-machine",
        _("Install or remove the updater's configuration, permissions and nightly task "
          "(run by the Windows installer, as administrator)."),
    )  # fmt: skip
    p.add_argument("--config-from", metavar="FILE", help=_("the configuration to install"))
    p.add_argument("--feed-url", metavar="URL", help=_("set the feed's address in it"))
    p.add_argument(
        "--update-at", default="03:00", metavar="HH:MM",
        help=_("when the nightly silent update runs (default 03:00)"),
    )  # fmt: skip
    p.add_argument(
        "--update-args", default="update --silent", metavar="ARGS",
        help=_("what the nightly task runs (default: 'update --silent')"),
    )  # fmt: skip
    p.add_argument("--no-task", action="store_true", help=_("no nightly task"))
    p.add_argument("--remove", action="store_true", help=_("undo the setup (uninstall)"))
    p.add_argument(
        "--keep-snapshots", action="store_true",
        help=_("with --remove: keep the saved copies of previous versions"),
    )  # fmt: skip
    p = command("demo", _("Run the built-in demo (local feed, demo TPV and ERP)."))
    p.add_argument("--keep", action="store_true", help=_("keep the demo's files and config"))
    p.add_argument("--dir", metavar="FOLDER", help=_("where to put the demo (default: temp)"))
    return parser


# ----------------------------------------------------------------------------- main


def _error(exc: UpdaterError, code: Exit) -> dict[str, Any]:
    return {
        "error": {"code": exc.code, "message": exc.message, "hint": exc.hint},
        "exit_code": int(code),
    }


def _iso(moment: Any) -> str | None:
    return None if moment is None else str(moment.isoformat())


def _config(args: argparse.Namespace) -> tuple[MachineConfig, Path]:
    path = resolve_config_path(args.config)
    config = load_config(path)
    if args.feed:
        feed = dataclasses.replace(config.feed, url=feed_url(args.feed), mirrors=())
        config = dataclasses.replace(config, feed=feed)
    return config, path


def run(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (see :class:`Exit`)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error argparse printed
        return Exit.OK if exc.code in (0, None) else Exit.USAGE
    if args.lang:
        set_language(args.lang)

    def write(line: str) -> None:
        print(line, flush=True)

    document: dict[str, Any]
    lines: list[str]
    try:
        if args.command == "demo":
            document, lines, code = cmd_demo(args, write)
        elif args.command in ("doctor", "report", "setup-machine"):
            path = resolve_config_path(args.config)
            handler_for_path = {
                "doctor": cmd_doctor,
                "report": cmd_report,
                "setup-machine": cmd_setup_machine,
            }[args.command]
            document, lines, code = handler_for_path(path, args)
        else:
            config, _path = _config(args)
            if config.language and not args.lang:
                set_language(config.language)
            _setup_logs(config, args)
            quiet = args.json or getattr(args, "silent", False)
            screen: Observer = NullObserver() if quiet else TerminalObserver(write)
            service = UpdaterService(config, Observers([screen, LoggingObserver(log)]))
            handler = COMMANDS[args.command]
            document, lines, code = handler(service, args)
            for entry in document.get("products", []):
                if isinstance(entry, dict) and "outcome" in entry:
                    log_outcome(log, entry["product"], args.command, entry["outcome"])
    except UpdaterError as exc:
        code = exit_code_for(exc)
        log_failure(log, getattr(args, "product", None), args.command, exc)
        document, lines = _error(exc, code), [exc.message] + ([exc.hint] if exc.hint else [])
    except KeyboardInterrupt:
        code = Exit.CANCELLED
        document, lines = {"error": {"code": "cancelled"}}, [_("Cancelled.")]
    if args.json:
        document = {"schema": JSON_SCHEMA, "command": args.command, "exit_code": int(code),
                    **document}  # fmt: skip
        print(json.dumps(document, ensure_ascii=False, indent=2, default=str))
    else:
        success = code in (Exit.OK, Exit.UPDATES_AVAILABLE, Exit.REBOOT_REQUIRED)
        report = args.command == "doctor" and "checks" in document  # a report, not an error
        stream = sys.stdout if success or report else sys.stderr
        for line in lines:
            print(line, file=stream)
    return int(code)


def _setup_logs(config: MachineConfig, args: argparse.Namespace) -> None:
    setup_logging(
        config.state_dir / "logs",
        log_file=Path(args.log_file) if args.log_file else None,
        verbose=args.verbose,
        stderr=not args.json or args.verbose,
    )


COMMANDS: dict[str, Callable[[UpdaterService, argparse.Namespace], Result]] = {
    "check": cmd_check,
    "update": cmd_update,
    "rollback": cmd_rollback,
    "status": cmd_status,
    "history": cmd_history,
    "snapshots": cmd_snapshots,
    "apply-requests": cmd_apply_requests,
}


def main(argv: Sequence[str] | None = None) -> int:
    _cancel_on_ctrl_break()
    return run(argv)


def _cancel_on_ctrl_break() -> None:
    """On Windows, Ctrl+Break (and the CTRL_BREAK_EVENT with which a deployment tool
    stops a console program) cancels as Ctrl+C does, instead of ending the process on
    the spot: what was changed is put back and the exit code is 1602."""
    if sys.platform == "win32":
        signal.signal(signal.SIGBREAK, signal.default_int_handler)


if __name__ == "__main__":
    sys.exit(main())
