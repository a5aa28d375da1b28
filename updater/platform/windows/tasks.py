"""The updater's scheduled tasks on Windows: their Task Scheduler definitions (XML) and
the ``schtasks`` commands that register, start and delete them.

May import :mod:`.processes` (to run ``schtasks``) and :mod:`.security` (the SIDs).
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path
from xml.sax.saxutils import escape as xml_escape

from updater.platform.windows.processes import creation_flags, run_checked
from updater.platform.windows.security import SID_SYSTEM

#: Who may do what with the on-demand task: SYSTEM and Administrators everything,
#: authenticated users read and run (SDDL).
USERS_MAY_RUN_SDDL = "D:(A;;FA;;;SY)(A;;FA;;;BA)(A;;GRGX;;;AU)"
_TASK_NS = "http://schemas.microsoft.com/windows/2004/02/mit/task"


def task_xml(
    *,
    program: str,
    arguments: str,
    description: str,
    daily_at: tuple[int, int] | None,
    users_may_run: bool = False,
    random_delay_minutes: int = 30,
    time_limit_hours: int = 2,
) -> str:
    """The Task Scheduler definition of a daily task run as SYSTEM, with the highest
    privileges, whoever is logged on, also when the PC was off at that hour (it runs
    when it can), only with a network, never twice at once, stopped after
    ``time_limit_hours``. A random delay spreads a fleet's downloads."""
    triggers = "  <Triggers />"
    if daily_at is not None:
        hour, minute = daily_at
        if not (0 <= hour < 24 and 0 <= minute < 60):
            raise ValueError(f"not a time of day: {hour}:{minute}")
        triggers = f"""  <Triggers>
    <CalendarTrigger>
      <StartBoundary>2026-01-01T{hour:02d}:{minute:02d}:00</StartBoundary>
      <ScheduleByDay><DaysInterval>1</DaysInterval></ScheduleByDay>
      <RandomDelay>PT{random_delay_minutes}M</RandomDelay>
    </CalendarTrigger>
  </Triggers>"""
    security = (
        f"\n    <SecurityDescriptor>{USERS_MAY_RUN_SDDL}</SecurityDescriptor>"
        if users_may_run
        else ""
    )
    return f"""<?xml version="1.0" encoding="UTF-16"?>
<Task version="1.3" xmlns="{_TASK_NS}">
  <RegistrationInfo>
    <Author>InnovaCommerce</Author>
    <Description>{xml_escape(description)}</Description>{security}
  </RegistrationInfo>
{triggers}
  <Principals>
    <Principal id="System">
      <UserId>{SID_SYSTEM}</UserId>
      <RunLevel>HighestAvailable</RunLevel>
    </Principal>
  </Principals>
  <Settings>
    <MultipleInstancesPolicy>IgnoreNew</MultipleInstancesPolicy>
    <DisallowStartIfOnBatteries>false</DisallowStartIfOnBatteries>
    <StopIfGoingOnBatteries>false</StopIfGoingOnBatteries>
    <StartWhenAvailable>true</StartWhenAvailable>
    <AllowStartOnDemand>true</AllowStartOnDemand>
    <RunOnlyIfNetworkAvailable>true</RunOnlyIfNetworkAvailable>
    <ExecutionTimeLimit>PT{time_limit_hours}H</ExecutionTimeLimit>
    <Enabled>true</Enabled>
  </Settings>
  <Actions Context="System">
    <Exec>
      <Command>{xml_escape(program)}</Command>
      <Arguments>{xml_escape(arguments)}</Arguments>
    </Exec>
  </Actions>
</Task>
"""


def schtasks_create_argv(name: str, xml_file: str) -> list[str]:
    """Register (or replace) a task from its XML definition."""
    return ["schtasks.exe", "/Create", "/F", "/TN", name, "/XML", xml_file]


def schtasks_run_argv(name: str) -> list[str]:
    return ["schtasks.exe", "/Run", "/TN", name]


def schtasks_delete_argv(name: str) -> list[str]:
    return ["schtasks.exe", "/Delete", "/F", "/TN", name]


def register_task(name: str, xml: str) -> None:
    """Register (or replace) the task ``name`` from its definition (:func:`task_xml`)."""
    with tempfile.TemporaryDirectory() as tmp:
        definition = Path(tmp) / "task.xml"
        definition.write_text(xml, encoding="utf-16")
        run_checked(schtasks_create_argv(name, str(definition)))


def remove_task(name: str) -> None:
    """Delete the task ``name``; a task that is not there is not an error."""
    subprocess.run(schtasks_delete_argv(name), capture_output=True, creationflags=creation_flags())
