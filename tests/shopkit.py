"""A shop's PC for engine and CLI tests: a feed built by the publisher and served over
HTTP on 127.0.0.1, a machine configuration file, real program folders with a self-test."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.apps import STANDIN_INSTALLER_ENV, standin
from tests.enginekit import make_data
from tests.feedkit import Feed
from tests.feedserver import FeedServer, feed_server
from updater.machine.config import load_config
from updater.observer import NullObserver
from updater.publish.keys import KeyRing, generate_key
from updater.publish.repository import FeedRepository, InstallerSpec, ReleaseSpec
from updater.service import UpdaterService

PROGRAM = """\
import sys
from pathlib import Path
here = Path(__file__).parent
if "--self-test" in sys.argv:
    sys.exit({exit_code})
if "--serve" in sys.argv:
    import time
    time.sleep(60)
"""


def make_tpv(folder: Path, version: str, *, self_test_exit: int = 0) -> Path:
    folder.mkdir(parents=True)
    (folder / "VERSION").write_text(version + "\n")
    (folder / "tpv.py").write_text(PROGRAM.format(exit_code=self_test_exit))
    (folder / "lib").mkdir()
    for n in range(20):
        (folder / "lib" / f"part{n}.bin").write_bytes(f"{version}-{n}".encode() * 500)
    return folder


@dataclass
class Shop:
    feed: Feed
    server: FeedServer
    service: UpdaterService
    install_dir: Path
    data_dir: Path
    config_path: Path

    def publish(self, version: str, *, self_test_exit: int = 0, **extra: object) -> None:
        build = make_tpv(
            self.feed.base / "builds" / version, version, self_test_exit=self_test_exit
        )
        # No delta packages unless a test asks (deltas=N): the tests of downloads and
        # faults are about the full package; tests/test_delta.py covers deltas.
        spec = ReleaseSpec(
            product="tpv", version=version, channel="stable", notes_es="es", notes_en="en",
            build_dir=build, product_name="InnovaCommerce TPV", deltas=0,
        )  # fmt: skip
        for key, value in extra.items():
            object.__setattr__(spec, key, value)
        self.feed.repo.add_release(spec)
        self.feed.repo.publish(self.feed.keyring)


def write_config(
    path: Path,
    *,
    url: str,
    root: Path,
    install: Path,
    data: Path,
    state: Path,
    extra: str = "",
    prestashop: str = "8.1.2",
    mirrors: tuple[str, ...] = (),
) -> Path:
    path.write_text(
        f"""
state_dir = '{state}'
[feed]
url = '{url}'
mirrors = {list(mirrors)!r}
root = '{root}'
[products.tpv]
name = "InnovaCommerce TPV"
install_dir = '{install}'
executable = "tpv.py"
data_paths = ['{data}']
prestashop_version = "{prestashop}"
health_check = ['{sys.executable}', '{{install_dir}}/tpv.py', '--self-test']
health_timeout = 20
{extra}
"""
    )
    return path


def shop_fixture(tmp_path: Path) -> Iterator[Shop]:
    keys = tmp_path / "keys"
    roles = ("root", "targets", "snapshot", "timestamp")
    role_keys = {r: [generate_key(keys, r).public_key] for r in roles}
    repo = FeedRepository.create(
        tmp_path / "work", role_keys=role_keys, thresholds={}, keyring=KeyRing([keys])
    )
    feed = Feed(base=tmp_path, repo=repo, keys_dir=keys)
    install = make_tpv(tmp_path / "shop" / "Program Files" / "TPV", "1.0.0")
    data = make_data(tmp_path / "shop" / "ProgramData" / "TPV", "1.0.0")
    root = tmp_path / "shop" / "root.json"
    shutil.copy(repo.metadata_dir / "1.root.json", root)
    for server in feed_server(repo.feed_dir):
        config = write_config(
            tmp_path / "shop" / "config.toml", url=server.url, root=root, install=install,
            data=data, state=tmp_path / "shop" / "state",
        )  # fmt: skip
        service = UpdaterService(load_config(config), NullObserver())
        shop = Shop(feed, server, service, install, data, config)
        shop.publish("1.0.0")
        yield shop


INSTALLER = """\
#!/bin/sh
# A silent installer: changes the program folder in place, then exits with a code.
target='{target}'
[ "$1" = "/S" ] || exit 87
printf '{version}\\n' > "$target/VERSION"
printf 'patched' > "$target/lib/part0.bin"
rm -f "$target/lib/part1.bin"
printf 'added' > "$target/lib/added.bin"
exit {code}
"""


#: The exit codes the test installers end with. Windows installers speak msiexec's codes
#: (3010: success, restart needed; 1603: fatal error); POSIX exit codes stop at 255, so
#: the shell stand-in uses 42 and 67 there.
REBOOT_CODE = 3010 if sys.platform == "win32" else 42
FAILURE_CODE = 1603 if sys.platform == "win32" else 67


def publish_installer(shop: Shop, version: str, code: int, writes: str | None = None) -> None:
    """Publish ``version`` as an installer that writes ``writes`` (default: ``version``)
    into the VERSION file and ends with exit code ``code``; the feed declares
    ``REBOOT_CODE`` as "success, restart needed".

    On Windows the installer is a real program: the stand-in built from
    tests/standin/installer.c, told what to do by data appended to a copy of it."""
    setup = shop.feed.base / "installers" / version / "setup.exe"
    setup.parent.mkdir(parents=True)
    if sys.platform == "win32":
        orders = f"\nINNOVA-STANDIN\n{shop.install_dir}\n{writes or version}\n{code}\n"
        program = standin(STANDIN_INSTALLER_ENV, "installer.c").read_bytes()
        setup.write_bytes(program + orders.encode())
    else:
        setup.write_text(
            INSTALLER.format(target=shop.install_dir, version=writes or version, code=code)
        )
    spec = ReleaseSpec(
        product="tpv", version=version, channel="stable", notes_es="es", notes_en="en",
        installer=InstallerSpec(
            setup, ("/S",), success_exit_codes=(0,), reboot_exit_codes=(REBOOT_CODE,)
        ),
    )  # fmt: skip
    shop.feed.repo.add_release(spec)
    shop.feed.repo.publish(shop.feed.keyring)


def package_path(shop: Shop, version: str) -> str:
    target = f"packages/tpv/{version}/tpv-{version}.zip"
    info = shop.feed.repo.published_targets()[target]
    stored = shop.feed.repo.target_file(target, info.hashes["sha256"])
    return str(stored.relative_to(shop.feed.repo.feed_dir))
