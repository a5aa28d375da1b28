"""Benchmark: how long IT staff wait for ``innova-update status`` and ``history``.

A cold command is a new Python process: its start-up (the interpreter, then every module
the command imports) is most of what a quick command costs. Each repetition starts a
fresh process, in this order (interleaved, so that a slow phase of the machine is shared):

(a) ``python -m updater.cli.main status --json`` on a small machine configuration (one
    product installed, a state folder with a history), wall time to exit;
(b) the same with ``history --json``;
(c) baseline: ``python -c pass`` (the interpreter alone, with ``site``);
(d) baseline: ``python -c "import requests, tuf.ngclient, jsonschema"``: what the
    network and schema libraries alone cost to import, which (a) and (b) no longer pay.

Run ``python -m benchmarks.bench_startup`` (``--repeat N``).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from benchmarks import format_table, measure, ms, print_machine_once

CONFIG = """\
state_dir = '{state}'

[feed]
url = "https://updates.example/feed/"
root = "root.json"

[products.tpv]
name = "InnovaCommerce TPV"
install_dir = '{install}'
executable = "tpv.exe"
version_from = "file"
version_file = "VERSION"
"""


def _machine(base: Path) -> Path:
    """A configuration, its root.json, an installed TPV and a state folder; returns the
    configuration file."""
    install = base / "apps" / "tpv"
    install.mkdir(parents=True)
    (install / "tpv.exe").write_bytes(b"MZ")
    (install / "VERSION").write_text("1.0.0\n", encoding="utf-8")
    site = base / "etc"
    site.mkdir()
    (site / "root.json").write_text('{"signed": {}}', encoding="utf-8")
    config = site / "config.toml"
    config.write_text(CONFIG.format(state=base / "state", install=install), encoding="utf-8")
    return config


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_startup")
    parser.add_argument("--repeat", type=int, default=15, help="samples per row (default 15)")
    args = parser.parse_args(argv)
    print_machine_once()

    with tempfile.TemporaryDirectory(prefix="bench-startup-") as folder:
        config = _machine(Path(folder))
        cli = [sys.executable, "-m", "updater.cli.main"]
        options = ["--config", str(config), "--json"]
        # The first status creates the state folder and its history.
        subprocess.run([*cli, "status", *options], check=True, capture_output=True)

        def run(argv: list[str]) -> None:
            subprocess.run(argv, check=True, capture_output=True)

        cases = [
            ("(a) innova-update status --json", lambda: run([*cli, "status", *options])),
            ("(b) innova-update history --json", lambda: run([*cli, "history", *options])),
            ("(c) baseline: python -c pass", lambda: run([sys.executable, "-c", "pass"])),
            (
                "(d) baseline: import requests, tuf, jsonschema",
                lambda: run([sys.executable, "-c", "import requests, tuf.ngclient, jsonschema"]),
            ),
        ]
        series = measure(cases, repeat=args.repeat)

    baseline = series[2].median
    rows = [
        (s.name, ms(s.median), ms(s.minimum), ms(s.median - baseline) if i < 2 else "")
        for i, s in enumerate(series)
    ]
    print("\nstartup: a new process per sample, wall time to exit")
    print(format_table(("measurement", "median ms", "min ms", "beyond (c) ms"), rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
