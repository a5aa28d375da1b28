"""The PyInstaller one-folder bundle, built for real on this machine, runs the updater:
its CLI checks a real feed and its tray program starts (offscreen Qt has no tray, which
it says). Also the build script's signing rules (signtool itself needs Windows).

On Windows (the Windows lane, under Wine, and the Windows workflow) the build also
compiles the Inno Setup script when ISCC.exe is found (``INNOVA_ISCC``), and the setup
it makes is installed silently, used, and uninstalled, end to end."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from tests.enginekit import tree
from tests.shopkit import Shop
from updater.machine.config import default_config_path

ROOT = Path(__file__).resolve().parent.parent


def load_build_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("innova_build", ROOT / "installer" / "build.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["innova_build"] = module
    spec.loader.exec_module(module)
    return module


build = load_build_script()


WINDOWS = sys.platform == "win32"


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """What installer/build.py makes: the bundle, and on Windows the setup program."""
    out = tmp_path_factory.mktemp("bundle")
    result = subprocess.run(
        [sys.executable, str(ROOT / "installer" / "build.py"), "--dist", str(out / "dist"),
         "--work", str(out / "work")],
        capture_output=True, text=True, timeout=1200, cwd=ROOT,
    )  # fmt: skip
    # The end of the output says why (a CI summary keeps the head and the tail).
    assert result.returncode == 0, (result.stdout + result.stderr)[-6000:]
    if WINDOWS:
        assert "NOT SIGNED" in result.stderr  # no certificate here, and it says so
    else:
        assert "Not Windows: programs are not signed" in result.stdout
    yield out / "dist"


@pytest.fixture
def bundle(dist: Path) -> Path:
    return dist / "InnovaCommerceUpdater"


def run(program: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "INNOVA_LANG": "en", "QT_QPA_PLATFORM": "offscreen"}
    env.pop("PYTHONPATH", None)
    return subprocess.run(
        [str(program), *args], capture_output=True, text=True, timeout=120, env=env,
        cwd=program.parent.parent,  # not the source tree: the bundle must be self-contained
    )  # fmt: skip


def test_the_bundled_cli_checks_a_real_feed(bundle: Path, shop: Shop) -> None:
    shop.publish("1.0.1")
    cli = bundle / "innova-update"
    version = run(cli, "--version")
    assert version.returncode == 0 and version.stdout.startswith("innova-update ")
    checked = run(cli, "check", "--json", "--config", str(shop.config_path))
    assert checked.returncode == 100, checked.stderr
    document = json.loads(checked.stdout)
    [product] = document["products"]
    assert product["offer"]["version"] == "1.0.1"
    spanish = run(cli, "check", "--lang", "es", "--config", str(shop.config_path))
    assert "disponible" in spanish.stdout  # the catalogs are in the bundle


def test_the_bundled_cli_installs_an_update(bundle: Path, shop: Shop) -> None:
    shop.publish("1.0.1")
    done = run(bundle / "innova-update", "update", "--silent", "--config", str(shop.config_path))
    assert done.returncode == 0, done.stderr
    assert (shop.install_dir / "VERSION").read_text() == "1.0.1\n"


def test_the_bundled_cli_runs_the_demo(bundle: Path, tmp_path: Path) -> None:
    """The demo publishes delta packages with a pool of spawned worker processes: the
    frozen program must serve as its own worker (multiprocessing.freeze_support)."""
    demo = run(bundle / "innova-update", "demo", "--keep", "--dir", str(tmp_path / "demo"))
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert "The demo went as expected." in demo.stdout
    # Delta packages were made (by the pool's workers), and the demo's programs ran
    # their self-checks through the bundle (it has no python.exe of its own).
    assert list((tmp_path / "demo").rglob("*.from-1.0.0.delta.zip"))


def test_the_bundled_tray_starts(bundle: Path, shop: Shop) -> None:
    tray = run(bundle / "innova-update-tray", "--config", str(shop.config_path))
    assert tray.returncode == 3  # Qt loaded, the configuration read; offscreen has no tray
    assert "This desktop has no system tray." in tray.stderr


def test_signing_is_configured_from_the_environment(tmp_path: Path) -> None:
    assert build.Signing.from_environment({}) is None
    pfx = tmp_path / "cert.pfx"
    pfx.write_bytes(b"not really")
    with pytest.raises(SystemExit, match="INNOVA_SIGN_PASSWORD"):
        build.Signing.from_environment({"INNOVA_SIGN_PFX": str(pfx)})
    with pytest.raises(SystemExit, match="does not exist"):
        build.Signing.from_environment({"INNOVA_SIGN_PFX": str(tmp_path / "x.pfx")})
    signing = build.Signing.from_environment(
        {"INNOVA_SIGN_PFX": str(pfx), "INNOVA_SIGN_PASSWORD": "s3cret"}
    )
    argv = signing.command("signtool.exe", [Path("a.exe"), Path("b.exe")])
    assert argv[:8] == [
        "signtool.exe", "sign", "/fd", "SHA256", "/tr", build.DEFAULT_TIMESTAMP, "/td", "SHA256",
    ]  # fmt: skip
    assert argv[-2:] == ["a.exe", "b.exe"] and ["/f", str(pfx)] == argv[8:10]
    assert "s3cret" not in signing.redacted(argv) and "/p ***" in signing.redacted(argv)
    store = build.Signing.from_environment(
        {"INNOVA_SIGN_THUMBPRINT": "AB12", "INNOVA_SIGN_TIMESTAMP": "http://ts"}
    )
    assert store.command("signtool", [Path("c.exe")]) == [
        "signtool", "sign", "/fd", "SHA256", "/tr", "http://ts", "/td", "SHA256", "/sha1", "AB12",
        "c.exe",
    ]  # fmt: skip


def test_without_a_certificate_the_build_says_it_is_not_signed(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert build.sign([Path("a.exe")], None) is False
    assert "NOT SIGNED" in capsys.readouterr().err


def test_an_environment_that_is_not_the_lock_is_not_bundled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    lock = tmp_path / "lock.txt"
    lock.write_text(
        "packaging==0.0.1 \\\n    --hash=sha256:" + "0" * 64 + "\n"
        "pefile==1.0 ; sys_platform == 'never' \\\n    --hash=sha256:" + "1" * 64 + "\n"
        "not-a-package-of-ours==1.0\n",
        encoding="utf-8",
    )
    monkeypatch.setattr(build, "LOCK", lock)
    dist = tmp_path / "dist"
    assert build.main(["--dist", str(dist), "--work", str(tmp_path / "work")]) == 2
    err = capsys.readouterr().err
    assert f"packaging: locked 0.0.1, installed {importlib.metadata.version('packaging')}" in err
    assert "not-a-package-of-ours: locked 1.0, installed nothing" in err
    assert "pefile" not in err  # its marker leaves it out of this platform
    assert "--unlocked" in err
    assert not dist.exists()  # nothing was built


def test_the_test_environment_holds_the_lock_the_bundle_is_built_from() -> None:
    """On Linux the bundle is built from the test lock; on Windows from the bundle's
    own lock, which the Windows test lock contains (both are cut from uv.lock)."""
    bundle_lock = "windows-bundle.txt" if WINDOWS else "test.txt"
    assert ROOT / "requirements" / bundle_lock == build.LOCK
    assert build.unlocked_packages(build.LOCK) == []


def test_a_fresh_checkout_gets_its_work_folder_before_anything_is_written_there(
    tmp_path: Path,
) -> None:
    work = tmp_path / "fresh" / "build"
    env = build.bundle_environment(work, "cli")
    assert work.is_dir()
    assert env["INNOVA_BUNDLE_ONLY"] == "cli"
    if sys.platform == "win32":  # the version resource is written into it
        assert Path(env["INNOVA_VERSION_FILE"]) == work / "version.txt"
        assert "FileVersion" in (work / "version.txt").read_text("utf-8")
    else:
        assert "INNOVA_VERSION_FILE" not in env


def test_windows_version_resource(tmp_path: Path) -> None:
    text = build.windows_version_file(tmp_path / "v.txt", "1.2.3+local").read_text()
    assert "filevers=(1, 2, 3, 0)" in text and "'ProductVersion', '1.2.3+local'" in text


def test_the_inno_setup_script_uses_what_exists() -> None:
    """The installer script calls the CLI with options the CLI has, and packs the folder
    and programs the build makes (Inno Setup itself needs Windows)."""
    from updater.cli.main import build_parser

    iss = (ROOT / "installer" / "innova-updater.iss").read_text(encoding="utf-8")
    parser = build_parser()
    setup = parser.parse_args(
        ["setup-machine", "--config-from", "c.toml", "--feed-url", "https://x/",
         "--update-at", "03:00", "--update-args", "update --silent", "--no-task"]
    )  # fmt: skip
    assert setup.command == "setup-machine"
    for option in ("--config-from", "--feed-url", "--update-at", "--update-args", "--no-task",
                   "--remove", "--keep-snapshots"):  # fmt: skip
        assert option in iss, option
    assert parser.parse_args(["setup-machine", "--remove", "--keep-snapshots"]).keep_snapshots
    assert f"dist\\{build.BUNDLE_NAME}" in iss
    for program in build.PROGRAMS:
        assert f'"{program}.exe"' in iss
    assert "InnovaCommerceUpdater-Setup-{#AppVersion}" in iss
    assert build.ISS.name == "innova-updater.iss"


# --- the setup program, end to end (Windows) --------------------------------------------

APP_NAME = "InnovaCommerce Updater"
UNINSTALL_ENTRY = "{6B7C2E0A-3D51-4C1B-9A57-2F6E2B1D8C40}_is1"
RUN_KEY = r"Software\Microsoft\Windows\CurrentVersion\Run"
UNINSTALL_ENTRY_KEY = r"Software\Microsoft\Windows\CurrentVersion\Uninstall"


@pytest.fixture
def setup_program(dist: Path) -> Path:
    found = sorted(dist.glob("InnovaCommerceUpdater-Setup-*.exe"))
    if not found:
        pytest.skip(
            "Inno Setup's compiler (ISCC.exe) was not found, so the build made no setup "
            "program: .ci/windows-lane takes it from the npm registry (INNOVA_ISCC)"
        )
    return found[-1]


def machine_registry(subkey: str, value: str | None) -> object:
    """A value under HKLM (64-bit view, then the 32-bit one where Inno Setup's 32-bit
    setup writes), or ``None``; ``value=None`` asks whether the key exists."""
    import winreg

    for view in (winreg.KEY_WOW64_64KEY, winreg.KEY_WOW64_32KEY):
        try:
            with winreg.OpenKeyEx(
                winreg.HKEY_LOCAL_MACHINE, subkey, 0, winreg.KEY_READ | view
            ) as key:
                return True if value is None else winreg.QueryValueEx(key, value)[0]
        except FileNotFoundError:
            continue
    return None


def wait_until_gone(path: Path, timeout: float) -> bool:
    """Inno Setup's uninstaller runs from a copy of itself and returns at once."""
    import time

    deadline = time.monotonic() + timeout
    while path.exists():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.5)
    return True


@pytest.mark.slow
@pytest.mark.skipif(not WINDOWS, reason="a Windows setup program (Inno Setup)")
def test_the_setup_installs_an_updater_that_updates_restores_and_uninstalls_cleanly(
    setup_program: Path, shop: Shop, tmp_path: Path
) -> None:
    """As an IT technician deploys it: a silent setup with the shop's configuration; the
    installed CLI checks the PC, updates the TPV from a real feed on 127.0.0.1 and
    restores it; the silent uninstall removes the updater and nothing of the
    operator's (configuration, root file, the TPV, the shop's data)."""
    shop.publish("1.0.1")
    root = Path(str(shop.service.config.feed.root))
    operators = {path: path.read_bytes() for path in (shop.config_path, root)}
    program, data = tree(shop.install_dir), tree(shop.data_dir)
    app = Path(os.environ["PROGRAMFILES"]) / APP_NAME
    if app.exists():  # a developer's own PC: the test must not touch that install
        pytest.skip(f"an updater is installed in {app}: this test installs and removes one")

    log = tmp_path / "setup.log"
    installed = subprocess.run(
        [str(setup_program), "/VERYSILENT", "/SUPPRESSMSGBOXES", "/NORESTART",
         f"/CONFIG={shop.config_path}", "/UPDATEHOUR=02:30", f"/LOG={log}"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    setup_log = log.read_text(encoding="utf-8", errors="replace") if log.exists() else ""
    cli = app / "innova-update.exe"
    try:
        assert installed.returncode == 0, setup_log
        assert "setup-machine failed" not in setup_log, setup_log
        assert (app / "innova-update-tray.exe").is_file()
        assert machine_registry(RUN_KEY, APP_NAME) == f'"{app / "innova-update-tray.exe"}"'
        assert machine_registry(rf"{UNINSTALL_ENTRY_KEY}\{UNINSTALL_ENTRY}", "DisplayName")
        # The machine's copy (setup-machine writes it anew: line ends may differ).
        assert default_config_path().read_text() == shop.config_path.read_text()

        # No --config: the machine configuration the setup installed.
        doctor = run(cli, "doctor", "--json")
        report = json.loads(doctor.stdout)
        assert {"config", "feed", "disk"} <= {
            check["id"] for check in report["checks"] if check["ok"]
        }, doctor.stdout + doctor.stderr
        checked = run(cli, "check", "--json")
        assert checked.returncode == 100, checked.stdout + checked.stderr
        [product] = json.loads(checked.stdout)["products"]
        assert product["offer"]["version"] == "1.0.1"
        updated = run(cli, "update", "--silent")
        assert updated.returncode == 0, updated.stdout + updated.stderr
        assert (shop.install_dir / "VERSION").read_text() == "1.0.1\n"
        restored = run(cli, "rollback", "tpv")
        assert restored.returncode == 0, restored.stdout + restored.stderr
        assert tree(shop.install_dir) == program
        assert tree(shop.data_dir) == data
    finally:
        uninstaller = app / "unins000.exe"
        if uninstaller.exists():
            subprocess.run(
                [str(uninstaller), "/VERYSILENT", "/SUPPRESSMSGBOXES"], timeout=300, check=False
            )
            assert wait_until_gone(uninstaller, timeout=300), "the uninstaller did not finish"
    assert not cli.exists() and not (app / "innova-update-tray.exe").exists()
    assert machine_registry(RUN_KEY, APP_NAME) is None
    assert machine_registry(rf"{UNINSTALL_ENTRY_KEY}\{UNINSTALL_ENTRY}", None) is None
    assert not default_config_path().exists()  # the machine's copy, not the operator's
    for path, content in operators.items():
        assert path.read_bytes() == content, path
    assert tree(shop.install_dir) == program
    assert tree(shop.data_dir) == data
