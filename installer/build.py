"""Build InnovaCommerce Updater for Windows (and, for testing, on Linux).

    python installer/build.py                 # the one-folder bundle (+ installer on Windows)
    python installer/build.py --only cli      # the CLI alone (no Qt), e.g. for tests
    python installer/build.py --no-installer  # the bundle only

Steps:

0. The installed packages must be those of the lock (``requirements/windows-bundle.txt``
   on Windows, ``requirements/test.txt`` for Linux test builds), so that two builds of one
   commit bundle the same libraries; ``--unlocked`` builds anyway, saying so.
1. PyInstaller builds ``dist/InnovaCommerceUpdater/`` from ``installer/innova.spec``:
   ``innova-update(.exe)`` and ``innova-update-tray(.exe)`` sharing one folder of
   libraries (a one-folder build starts fast and lets antivirus scan each file once).
2. On Windows, when a code-signing certificate is configured, ``signtool`` signs both
   programs (SmartScreen and antivirus treat unsigned updaters harshly); when none is,
   the build says so loudly and goes on.
3. On Windows, when Inno Setup's ``ISCC.exe`` is found, it compiles
   ``installer/innova-updater.iss`` into ``dist/InnovaCommerceUpdater-Setup-<version>.exe``,
   which is signed the same way.

Signing is configured with environment variables (never with arguments, which end up
in logs):

``INNOVA_SIGN_PFX`` + ``INNOVA_SIGN_PASSWORD``
    a .pfx file and its password; or
``INNOVA_SIGN_THUMBPRINT``
    the SHA-1 thumbprint of a certificate in the Windows certificate store (for example
    on a hardware token);
``INNOVA_SIGN_TIMESTAMP``
    the RFC 3161 timestamp server (default ``http://timestamp.digicert.com``);
``INNOVA_SIGNTOOL`` / ``INNOVA_ISCC``
    where ``signtool.exe`` / ``ISCC.exe`` are, when not on ``PATH`` or in their usual
    folders.

Exit codes: 0 built; 1 a step failed; 2 PyInstaller is not installed, or the environment
is not the lock.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "installer" / "innova.spec"
#: What a bundle is built from: the Windows lock on Windows; on Linux (test builds) the
#: test environment's lock.
LOCK = ROOT / "requirements" / ("windows-bundle.txt" if sys.platform == "win32" else "test.txt")
ISS = ROOT / "installer" / "innova-updater.iss"
BUNDLE_NAME = "InnovaCommerceUpdater"
DEFAULT_TIMESTAMP = "http://timestamp.digicert.com"
PROGRAMS = ("innova-update", "innova-update-tray")


@dataclass(frozen=True)
class Signing:
    """How to sign, from the environment (see the module's description)."""

    pfx: str | None = None
    password: str | None = None
    thumbprint: str | None = None
    timestamp: str = DEFAULT_TIMESTAMP

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> Signing | None:
        """The configured signing, or None when no certificate is configured.

        Raises:
            SystemExit: a .pfx is named without its password, or does not exist.
        """
        pfx = environ.get("INNOVA_SIGN_PFX") or None
        thumbprint = environ.get("INNOVA_SIGN_THUMBPRINT") or None
        timestamp = environ.get("INNOVA_SIGN_TIMESTAMP") or DEFAULT_TIMESTAMP
        if pfx is None and thumbprint is None:
            return None
        if pfx is not None:
            if not Path(pfx).is_file():
                raise SystemExit(f"INNOVA_SIGN_PFX names {pfx}, which does not exist.")
            if "INNOVA_SIGN_PASSWORD" not in environ:
                raise SystemExit("INNOVA_SIGN_PFX is set but INNOVA_SIGN_PASSWORD is not.")
        return cls(pfx, environ.get("INNOVA_SIGN_PASSWORD"), thumbprint, timestamp)

    def command(self, signtool: str, files: Sequence[Path]) -> list[str]:
        """The ``signtool sign`` command line: SHA-256 file digest, RFC 3161 timestamp
        with a SHA-256 digest, certificate from the .pfx or the store."""
        argv = [signtool, "sign", "/fd", "SHA256", "/tr", self.timestamp, "/td", "SHA256"]
        if self.pfx is not None:
            argv += ["/f", self.pfx, "/p", self.password or ""]
        else:
            assert self.thumbprint is not None
            argv += ["/sha1", self.thumbprint]
        return argv + [str(f) for f in files]

    def redacted(self, argv: Sequence[str]) -> str:
        """``argv`` for the log, with the password masked."""
        shown = list(argv)
        if "/p" in shown:
            shown[shown.index("/p") + 1] = "***"
        return " ".join(shown)


NOT_SIGNED = (
    "NOT SIGNED: no code-signing certificate is configured (set INNOVA_SIGN_PFX and "
    "INNOVA_SIGN_PASSWORD, or INNOVA_SIGN_THUMBPRINT). Windows SmartScreen and antivirus "
    "programs treat unsigned updaters harshly: sign every build that leaves this PC."
)


def find_tool(name: str, env_var: str, guesses: Sequence[str]) -> str | None:
    """A build tool: from ``env_var``, else ``PATH``, else its usual install folders."""
    named = os.environ.get(env_var)
    if named:
        return named if Path(named).is_file() else None
    found = shutil.which(name)
    if found:
        return found
    for guess in guesses:
        matches = sorted(Path("C:/").glob(guess))
        if matches:
            return str(matches[-1])
    return None


def version() -> str:
    from updater import __version__

    return __version__


def windows_version_file(path: Path, text: str) -> Path:
    """A PyInstaller version resource (the "Details" tab of the .exe's properties)."""
    numbers = [int(p) for p in text.split("+")[0].split(".")[:4] if p.isdigit()]
    numbers += [0] * (4 - len(numbers))
    four = tuple(numbers[:4])
    path.write_text(
        f"""VSVersionInfo(
  ffi=FixedFileInfo(filevers={four}, prodvers={four}),
  kids=[StringFileInfo([StringTable('040904B0', [
    StringStruct('CompanyName', 'InnovaCommerce'),
    StringStruct('FileDescription', 'InnovaCommerce Updater'),
    StringStruct('FileVersion', '{text}'),
    StringStruct('ProductName', 'InnovaCommerce Updater'),
    StringStruct('ProductVersion', '{text}')])]),
    VarFileInfo([VarStruct('Translation', [1033, 1200])])]
)
""",
        encoding="utf-8",
    )
    return path


def run(
    argv: Sequence[str], *, shown: str | None = None, env: Mapping[str, str] | None = None
) -> None:
    print("$", shown or " ".join(argv), flush=True)
    subprocess.run(list(argv), check=True, env=dict(env) if env is not None else None)


def unlocked_packages(lock: Path) -> list[str]:
    """How the installed packages differ from ``lock`` (requirements/refresh.py reads it)."""
    spec = importlib.util.spec_from_file_location("refresh", ROOT / "requirements" / "refresh.py")
    assert spec is not None and spec.loader is not None
    refresh = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(refresh)
    wrong: list[str] = refresh.unlocked(lock)
    return wrong


def bundle_environment(work: Path, only: str | None) -> dict[str, str]:
    """Make the work folder (a fresh checkout has none) and what the spec reads: the
    environment, with the version resource file on Windows."""
    work.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    if only:
        env["INNOVA_BUNDLE_ONLY"] = only
    if sys.platform == "win32":
        env["INNOVA_VERSION_FILE"] = str(windows_version_file(work / "version.txt", version()))
    return env


def build_bundle(dist: Path, work: Path, only: str | None) -> Path:
    env = bundle_environment(work, only)
    run(
        [sys.executable, "-m", "PyInstaller", "--noconfirm", "--clean", "--log-level", "WARN",
         "--distpath", str(dist), "--workpath", str(work), str(SPEC)],
        env=env,
    )  # fmt: skip
    return dist / BUNDLE_NAME


def sign(files: Sequence[Path], signing: Signing | None) -> bool:
    """Sign ``files``; False (with the warning) when nothing is configured."""
    if signing is None:
        print(NOT_SIGNED, file=sys.stderr)
        return False
    signtool = find_tool(
        "signtool",
        "INNOVA_SIGNTOOL",
        ["Program Files (x86)/Windows Kits/10/bin/*/x64/signtool.exe"],
    )
    if signtool is None:
        raise SystemExit(
            "A certificate is configured but signtool.exe was not found (INNOVA_SIGNTOOL)."
        )
    argv = signing.command(signtool, files)
    run(argv, shown=signing.redacted(argv))
    return True


def build_installer(bundle: Path, dist: Path, signing: Signing | None) -> Path | None:
    iscc = find_tool("ISCC", "INNOVA_ISCC", ["Program Files (x86)/Inno Setup */ISCC.exe"])
    if iscc is None:
        print("Inno Setup (ISCC.exe) not found: the installer was not built.", file=sys.stderr)
        return None
    run([iscc, "/Q", f"/DAppVersion={version()}", f"/DSourceDir={bundle}", f"/O{dist}", str(ISS)])
    setup = dist / f"InnovaCommerceUpdater-Setup-{version()}.exe"
    if sys.platform == "win32":
        sign([setup], signing)
    return setup


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python installer/build.py")
    parser.add_argument("--only", choices=["cli"], help="build the CLI alone (no Qt)")
    parser.add_argument("--dist", type=Path, default=ROOT / "dist")
    parser.add_argument("--work", type=Path, default=ROOT / "build")
    parser.add_argument("--no-installer", action="store_true", help="the bundle only")
    parser.add_argument(
        "--unlocked",
        action="store_true",
        help="build from whatever is installed, not the lock (never for a release)",
    )
    args = parser.parse_args(argv)
    try:
        import PyInstaller  # noqa: F401 - only checks that it is installed
    except ImportError:
        print(
            "PyInstaller is not installed: pip install --require-hashes"
            " -r requirements/windows-bundle.txt (see installer/README.md)",
            file=sys.stderr,
        )
        return 2
    wrong = unlocked_packages(LOCK)
    if wrong:
        lock = LOCK.relative_to(ROOT).as_posix() if LOCK.is_relative_to(ROOT) else str(LOCK)
        print(
            f"This environment is not the lock ({lock}):\n  " + "\n  ".join(wrong),
            file=sys.stderr,
        )
        if not args.unlocked:
            print(
                f"Install from it (pip install --require-hashes -r {lock}), or build a "
                "throw-away bundle with --unlocked.",
                file=sys.stderr,
            )
            return 2
        print("UNLOCKED BUILD: not for release.", file=sys.stderr)
    signing = Signing.from_environment() if sys.platform == "win32" else None
    try:
        bundle = build_bundle(args.dist.resolve(), args.work.resolve(), args.only)
        suffix = ".exe" if sys.platform == "win32" else ""
        programs = [
            bundle / f"{name}{suffix}" for name in PROGRAMS if (bundle / f"{name}{suffix}").exists()
        ]
        print(f"Bundle: {bundle} ({', '.join(p.name for p in programs)})")
        if sys.platform == "win32":
            sign(programs, signing)
            if not args.no_installer:
                setup = build_installer(bundle, args.dist.resolve(), signing)
                if setup is not None:
                    print(f"Installer: {setup}")
        else:
            print("Not Windows: programs are not signed and no installer is built.")
    except subprocess.CalledProcessError as exc:
        print(f"Build step failed ({exc.returncode}): {exc.cmd[0]}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    raise SystemExit(main())
