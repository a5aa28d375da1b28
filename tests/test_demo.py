"""The guided demo: a signed feed, a local server and a pretend shop PC, end to end."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from updater.demo import STEPS, run_demo
from updater.errors import ConfigError
from updater.i18n import _, set_language
from updater.machine.config import load_config
from updater.service import UpdaterService


def test_kept_demo_walks_through_every_step_and_leaves_a_working_config(
    tmp_path: Path,
) -> None:
    lines: list[str] = []
    result = run_demo(tmp_path / "demo", keep=True, out=lines.append)

    assert result.ok, "\n".join(lines)
    assert result.steps == list(STEPS)
    assert result.workdir == (tmp_path / "demo").resolve()
    assert result.config_path.is_file() and result.config_path.is_relative_to(result.workdir)
    text = "\n".join(lines)
    assert "Bug-fix update installed: InnovaCommerce TPV went from 1.0.0 to 1.0.1." in text
    assert "Automatic rollback: " in text and "previous version has been restored" in text
    assert "failed its self-check (code 1)" in text
    assert "InnovaCommerce TPV is still at version 1.0.1" in text
    assert "Restored: InnovaCommerce ERP went from 2.1.0 back to 2.0.0" in text
    assert "Restore undone: InnovaCommerce ERP is at version 2.1.0 again" in text
    assert f"innova-update-tray --config {result.config_path}" in text

    # The web server is gone; the kept configuration reads the feed from its folder.
    config = load_config(result.config_path)
    assert config.feed.url.startswith("file:")
    assert all(p.install_dir.is_relative_to(result.workdir) for p in config.products.values())
    assert config.state_dir.is_relative_to(result.workdir)
    service = UpdaterService(config)
    check = service.check()
    found = {c.product: (str(c.installed), c.offer and str(c.offer.version)) for c in check.choices}
    assert found == {"tpv": ("1.0.1", "1.1.0"), "erp": ("2.1.0", None)}
    assert not check.offline


def test_temporary_demo_leaves_nothing_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    temp_root = tmp_path / "tmp"
    temp_root.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp_root))
    lines: list[str] = []

    result = run_demo(None, keep=False, out=lines.append)

    assert result.ok, "\n".join(lines)
    assert result.workdir.is_relative_to(temp_root.resolve())
    assert not result.workdir.exists()
    assert list(temp_root.iterdir()) == []
    assert lines[-1] == "The demo's files were removed."


def test_demo_speaks_spanish(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    lines: list[str] = []
    set_language("es")
    try:
        result = run_demo(None, keep=False, out=lines.append)
        went_well = _("The demo went as expected.")
    finally:
        set_language("en")

    assert result.ok, "\n".join(lines)
    text = "\n".join(lines)
    assert "Se ha restaurado su versión anterior" in text  # the rollback message
    assert "Corrige el redondeo del IVA en los tickets." in text  # Spanish release notes
    assert went_well in lines


def test_a_folder_in_use_is_refused(tmp_path: Path) -> None:
    (tmp_path / "mine.txt").write_text("keep me")
    lines: list[str] = []
    with pytest.raises(ConfigError, match="not an empty folder"):
        run_demo(tmp_path, keep=True, out=lines.append)
    assert [p.name for p in tmp_path.iterdir()] == ["mine.txt"]
    assert lines == []
