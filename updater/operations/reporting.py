"""Reporting from the facade: the support bundle written and sent for this machine.

The bundle itself (what goes in, redacted) and its upload are
:mod:`updater.support.report`'s; this module gives them this machine's configuration
file, state folder, HTTP session and machine id.

May import: the support package, the core and the operations' ``context``.
"""

from __future__ import annotations

from pathlib import Path

from updater.errors import ConfigError
from updater.i18n import _
from updater.operations.context import OperationContext
from updater.support import report

__all__ = ["build_report", "send_report"]


def build_report(ctx: OperationContext, out: Path, *, description: str, contact: str) -> Path:
    """Write the support bundle to ``out`` (see
    :meth:`updater.service.UpdaterService.build_report`)."""
    from updater.support.doctor import run_doctor

    checks = run_doctor(ctx.file_config.source)
    return report.build_report(
        out,
        config_path=ctx.file_config.source,
        checks=checks,
        state_dir=ctx.state.root,
        description=description,
        contact=contact,
    )


def send_report(ctx: OperationContext, bundle: Path) -> str:
    """Upload the support bundle (see :meth:`updater.service.UpdaterService.send_report`)."""
    url = ctx.config.support_url
    if url is None:
        raise ConfigError(_("No support address is configured on this PC."))
    return report.send_report(ctx.session, url, bundle, machine_id=ctx.state.machine_id())
