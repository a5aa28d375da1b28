"""The product's own commands, as an update or a restore runs them.

The hooks the configuration names (``pre_snapshot``, ``post_swap``, ``post_restore``),
where a failed command's output is kept (only administrators may read it), and the
rule that the updater, running as SYSTEM, runs no program that a standard user could
change (the hooks, the health check and the PrestaShop command).

May import: the install side (running commands), the machine's configuration, the
foundation and the core.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime

from updater.errors import InstallError, PreflightError
from updater.fsutil import write_atomic
from updater.i18n import _
from updater.install.health import (
    command_programs,
    last_lines,
    product_commands,
    run_command,
    unsafe_program,
)
from updater.machine.config import ProductConfig
from updater.operations.context import OperationContext

__all__ = ["hook_quietly", "keep_output", "refuse_unsafe_commands", "run_hook"]

log = logging.getLogger(__name__)


def refuse_unsafe_commands(
    ctx: OperationContext, product: ProductConfig, only: Sequence[str] | None = None
) -> None:
    """As SYSTEM, run nothing that a standard user could change: every program the
    product's hooks, health check and PrestaShop command name (and every script
    they are given) must be writable by administrators only, with every folder on
    its way (:meth:`Platform.writable_by_others`).

    Raises:
        PreflightError: one is not; nothing was changed.
    """
    if not ctx.platform.is_system():
        return
    for name, argv in product_commands(product).items():
        if only is not None and name not in only:
            continue
        for program in command_programs(argv):
            reason = unsafe_program(ctx.platform, program)
            if reason is not None:
                raise PreflightError(
                    _("The {command} command of {product} is not run: {reason}").format(
                        command=name, product=product.name, reason=reason
                    ),
                    hint=_(
                        "Nothing was changed. The updater runs commands with the "
                        "rights of SYSTEM, so only administrators may be able to "
                        "change them and their folders; ask your IT support."
                    ),
                )


def run_hook(ctx: OperationContext, product: ProductConfig, name: str) -> None:
    """Run the product's hook ``name`` when the configuration names one.

    Raises:
        InstallError: it failed (what it printed is kept, see :func:`keep_output`).
    """
    argv = getattr(product.hooks, name)
    if argv is None:
        return
    result = run_command(
        product.expand(argv), timeout=product.hooks.timeout, cwd=product.install_dir.parent
    )
    if not result.ok:
        raise InstallError(
            _("The {hook} command of {product} failed.").format(hook=name, product=product.name),
            hint=keep_output(ctx, product, name, last_lines(result.output)),
        )


def hook_quietly(ctx: OperationContext, product: ProductConfig, name: str) -> str | None:
    """Run the hook ``name``; a failure is returned as a note instead of raised."""
    try:
        run_hook(ctx, product, name)
    except InstallError as exc:
        return f"{exc.message} {exc.hint or ''}".strip()
    return None


def keep_output(ctx: OperationContext, product: ProductConfig, command: str, output: str) -> str:
    """Keep what a failed command printed where only administrators read it (it may
    hold anything: the history and the logs are readable by users); returns a note
    saying where, for the history and the person."""
    folder = ctx.state.root / "logs" / "commands"
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    path = folder / f"{product.id}-{command}-{stamp}.log"
    try:
        ctx.platform.make_private(folder)
        write_atomic(path, (output or "(no output)").encode("utf-8", "replace"))
    except OSError as exc:
        log.warning("Cannot keep the output of %s: %s", command, exc)
        return _("Its output could not be kept: {error}").format(error=exc.strerror or exc)
    return _("What it printed is in {path}, which only administrators can read.").format(path=path)
