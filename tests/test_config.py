"""The machine configuration (updater/machine/config.py), on real files in a temporary folder."""

from __future__ import annotations

import datetime
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import platformdirs
import pytest

from tests.links import symlink
from updater.errors import ConfigError
from updater.machine.config import (
    CONFIG_ENV,
    FeedConfig,
    HealthCheck,
    Hooks,
    MachineConfig,
    Prestashop,
    ProductConfig,
    Retention,
    VersionSource,
    default_config_path,
    default_state_dir,
    load_config,
    parse_config,
    resolve_config_path,
)

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "docs" / "config.example.toml"


# --- helpers ------------------------------------------------------------------------------


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """A folder holding the configuration and its root.json."""
    folder = tmp_path / "etc"
    folder.mkdir()
    (folder / "root.json").write_text('{"signed": {}}', encoding="utf-8")
    return folder


def write(site: Path, text: str) -> Path:
    path = site / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def minimal(site: Path) -> str:
    """The smallest valid configuration: a feed and one product."""
    return f"""\
[feed]
url = "https://updates.example/feed/"
root = "root.json"

[products.tpv]
name = "InnovaCommerce TPV"
install_dir = '{site.parent / "apps" / "tpv"}'
executable = "tpv.exe"
"""


def load_error(site: Path, text: str) -> ConfigError:
    """The error loading ``text`` raises; it must be exactly a ConfigError naming the file."""
    path = write(site, text)
    with pytest.raises(Exception) as info:
        load_config(path)
    assert type(info.value) is ConfigError, repr(info.value)
    assert str(path) in info.value.message
    return info.value


# --- where the file is --------------------------------------------------------------------


def test_flag_wins_over_environment(tmp_path: Path) -> None:
    env = {CONFIG_ENV: str(tmp_path / "env.toml")}
    assert resolve_config_path(str(tmp_path / "flag.toml"), env) == tmp_path / "flag.toml"


def test_environment_wins_over_default(tmp_path: Path) -> None:
    env = {CONFIG_ENV: str(tmp_path / "env.toml")}
    assert resolve_config_path(None, env) == tmp_path / "env.toml"


def test_default_is_the_site_config_dir() -> None:
    expected = (
        Path(platformdirs.site_config_dir("InnovaCommerce Updater", appauthor=False))
        / "config.toml"
    )
    assert resolve_config_path(None, {}) == expected == default_config_path()
    # An empty variable counts as unset.
    assert resolve_config_path(None, {CONFIG_ENV: ""}) == expected


def test_default_environment_is_os_environ(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CONFIG_ENV, str(tmp_path / "from-env.toml"))
    assert resolve_config_path(None) == tmp_path / "from-env.toml"


def test_relative_flag_is_made_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert resolve_config_path("sub/c.toml", {}) == tmp_path / "sub" / "c.toml"


def test_empty_flag_is_an_error() -> None:
    with pytest.raises(ConfigError, match="--config"):
        resolve_config_path("", {})


# --- valid configurations -----------------------------------------------------------------


def test_full_configuration(site: Path, tmp_path: Path) -> None:
    (site / "ca.pem").write_text("-----BEGIN CERTIFICATE-----\n", encoding="utf-8")
    apps = tmp_path / "apps"
    data = tmp_path / "data"
    path = write(
        site,
        f"""\
state_dir = '{tmp_path / "state"}'
check_interval_hours = 1.5
language = "es"

[feed]
url = "https://updates.example/feed"
mirrors = ["https://mirror.example/feed/", "file:///srv/feed"]
root = "root.json"
channel = "beta"
ca_bundle = "ca.pem"

[retention]
keep = 3
max_disk_mb = 4000

[products.tpv]
name = "InnovaCommerce TPV"
install_dir = '{apps / "tpv"}'
executable = "tpv.exe"
version_from = "file"
version_file = "meta/VERSION.txt"
data_paths = ['{data / "tpv"}', '{data / "tpv.ini"}']
prestashop_version = "8.1.2"
health_check = ["{{install_dir}}/tpv.exe", "--self-test"]
health_timeout = 20

[products.tpv.hooks]
pre_snapshot = ["{{install_dir}}/tools/dump-db", "--all"]
post_swap = ["{{install_dir}}/tools/migrate"]
post_restore = ["{{install_dir}}/tools/restore-db"]
timeout = 120

[products.erp]
name = "InnovaCommerce ERP"
install_dir = '{apps / "erp"}'
executable = "bin/erp.exe"
version_from = "registry"
registry_key = "{{8F3C2A10-5B7E-4C1D-9A2B-3E4F5A6B7C8D}}_is1"
prestashop_command = ["php", "bin/console", "--version"]
prestashop_timeout = 5

[products.caja]
name = "Caja"
install_dir = '{apps / "caja"}'
executable = "caja.exe"
version_from = "file_version"
""",
    )
    config = load_config(path)
    assert config == MachineConfig(
        source=path,
        state_dir=tmp_path / "state",
        feed=FeedConfig(
            url="https://updates.example/feed/",
            mirrors=("https://mirror.example/feed/", "file:///srv/feed/"),
            root=site / "root.json",
            channel="beta",
            ca_bundle=site / "ca.pem",
        ),
        products={
            "tpv": ProductConfig(
                id="tpv",
                name="InnovaCommerce TPV",
                install_dir=apps / "tpv",
                executable="tpv.exe",
                version=VersionSource(kind="file", file="meta/VERSION.txt"),
                health_check=HealthCheck(
                    command=("{install_dir}/tpv.exe", "--self-test"), timeout=20.0
                ),
                data_paths=(data / "tpv", data / "tpv.ini"),
                prestashop=Prestashop(version="8.1.2"),
                hooks=Hooks(
                    pre_snapshot=("{install_dir}/tools/dump-db", "--all"),
                    post_swap=("{install_dir}/tools/migrate",),
                    post_restore=("{install_dir}/tools/restore-db",),
                    timeout=120.0,
                ),
            ),
            "erp": ProductConfig(
                id="erp",
                name="InnovaCommerce ERP",
                install_dir=apps / "erp",
                executable="bin/erp.exe",
                version=VersionSource(
                    kind="registry", registry_key="{8F3C2A10-5B7E-4C1D-9A2B-3E4F5A6B7C8D}_is1"
                ),
                prestashop=Prestashop(command=("php", "bin/console", "--version"), timeout=5.0),
            ),
            "caja": ProductConfig(
                id="caja",
                name="Caja",
                install_dir=apps / "caja",
                executable="caja.exe",
                # file_version reads the product's own executable unless told otherwise.
                version=VersionSource(kind="file_version", executable="caja.exe"),
            ),
        },
        retention=Retention(keep=3, max_disk_mb=4000),
        check_interval_hours=1.5,
        language="es",
    )
    # Products keep the order of the file and cannot be changed.
    assert list(config.products) == ["tpv", "erp", "caja"]
    with pytest.raises(TypeError):
        config.products["x"] = config.products["tpv"]  # type: ignore[index]
    assert config.feed.urls == (config.feed.url, *config.feed.mirrors)
    assert config.product("erp") is config.products["erp"]
    assert config.products["erp"].executable_path == apps / "erp" / "bin" / "erp.exe"
    assert isinstance(config.check_interval_hours, float)
    assert isinstance(config.products["erp"].prestashop.timeout, float)  # type: ignore[union-attr]
    hash(config)  # frozen all the way down


def test_defaults(site: Path) -> None:
    config = load_config(write(site, minimal(site)))
    assert config.state_dir == default_state_dir()
    assert default_state_dir() == Path(
        platformdirs.site_data_dir("InnovaCommerce Updater", appauthor=False)
    )
    assert config.feed.mirrors == ()
    assert config.feed.channel == "stable"
    assert config.feed.ca_bundle is None
    assert config.retention == Retention(keep=2, max_disk_mb=None)
    assert config.check_interval_hours == 6.0
    assert config.language is None
    tpv = config.products["tpv"]
    assert tpv.version == VersionSource(kind="file", file="VERSION")
    assert tpv.health_check == HealthCheck(command=None, timeout=60.0)
    assert tpv.hooks == Hooks(timeout=300.0)
    assert tpv.data_paths == ()
    assert tpv.prestashop is None


def test_relative_paths_are_taken_from_the_files_folder(
    site: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    (site / "feed").mkdir()
    (site / "keys").mkdir()
    (site / "keys" / "root.json").write_text("{}", encoding="utf-8")
    path = write(
        site,
        """\
state_dir = "state"
[feed]
url = "feed"
mirrors = ["../mirror"]
root = "keys/root.json"
[products.tpv]
name = "TPV"
install_dir = "apps/tpv"
executable = "tpv.exe"
data_paths = ["data/tpv", "../shared/./tpv.ini"]
""",
    )
    config = load_config(path)
    assert config.state_dir == site / "state"
    assert config.feed.url == (site / "feed").as_uri() + "/"
    assert config.feed.mirrors == ((tmp_path / "mirror").as_uri() + "/",)
    assert config.feed.root == site / "keys" / "root.json"
    tpv = config.products["tpv"]
    assert tpv.install_dir == site / "apps" / "tpv"
    assert tpv.install_dir.is_absolute()
    assert tpv.data_paths == (site / "data" / "tpv", tmp_path / "shared" / "tpv.ini")


def test_parse_config_resolves_against_base_dir(site: Path) -> None:
    text = minimal(site).replace("root.json", "../root.json")
    config = parse_config(text, base_dir=site / "sub", source=None)
    assert config.source is None
    assert config.feed.root == site / "root.json"


def test_install_dir_is_expanded_in_commands(site: Path, tmp_path: Path) -> None:
    text = minimal(site) + 'health_check = ["{install_dir}/tpv.exe", "--dir={install_dir}", "x"]\n'
    tpv = load_config(write(site, text)).products["tpv"]
    # The dataclass keeps the command as written ...
    assert tpv.health_check.command == ("{install_dir}/tpv.exe", "--dir={install_dir}", "x")
    # ... and expand() fills in the install folder, in every argument.
    install = str(tmp_path / "apps" / "tpv")
    assert tpv.expand(tpv.health_check.command) == [
        install + "/tpv.exe",
        "--dir=" + install,
        "x",
    ]
    # Other braces are left alone.
    assert tpv.expand(["{8F3C-12}", "{}"]) == ["{8F3C-12}", "{}"]


def test_utf8_with_byte_order_mark(site: Path) -> None:
    path = site / "config.toml"
    path.write_bytes(b"\xef\xbb\xbf" + minimal(site).replace("TPV", "TPV café").encode("utf-8"))
    assert load_config(path).products["tpv"].name == "InnovaCommerce TPV café"


def test_the_documented_example_is_valid(tmp_path: Path) -> None:
    folder = tmp_path / "site"
    folder.mkdir()
    shutil.copy(EXAMPLE, folder / "config.toml")
    (folder / "root.json").write_text("{}", encoding="utf-8")
    config = load_config(folder / "config.toml")
    assert list(config.products) == ["tpv", "erp"]
    tpv, erp = config.products["tpv"], config.products["erp"]
    assert config.feed.url == "https://updates.innovacommerce.es/feed/"
    assert config.feed.channel == "stable"
    assert config.language == "es"
    assert config.retention == Retention(keep=2, max_disk_mb=4000)
    assert tpv.prestashop == Prestashop(version="8.1.2")
    assert tpv.health_check.command == ("{install_dir}\\tpv.exe", "--self-test")
    assert tpv.hooks.pre_snapshot is not None
    assert tpv.hooks.pre_snapshot[0] == "{install_dir}\\tools\\dump-db.exe"
    assert len(tpv.data_paths) == 2
    assert erp.version.kind == "registry"
    assert erp.prestashop is not None
    assert erp.prestashop.command is not None


def test_the_reference_shows_the_example_as_it_is() -> None:
    reference = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert "```toml\n" + EXAMPLE.read_text(encoding="utf-8") + "```\n" in reference


def test_product_lookup_error(site: Path) -> None:
    config = load_config(write(site, minimal(site)))
    with pytest.raises(ConfigError, match="crm") as info:
        config.product("crm")
    assert info.value.hint is not None
    assert "tpv" in info.value.hint


# --- errors: each names the file and the key ---------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "config.toml"
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert type(info.value) is ConfigError
    assert str(path) in info.value.message
    assert "does not exist" in info.value.message
    assert info.value.hint is not None
    assert CONFIG_ENV in info.value.hint


def test_folder_instead_of_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="folder"):
        load_config(tmp_path)


def test_not_utf8(site: Path) -> None:
    path = site / "config.toml"
    path.write_bytes(minimal(site).replace("TPV", "TPV caf\xe9").encode("latin-1"))
    with pytest.raises(ConfigError, match="UTF-8"):
        load_config(path)


def test_not_toml_names_the_line(site: Path) -> None:
    error = load_error(site, minimal(site) + "health_timeout = \n")
    assert "not valid TOML" in error.message
    assert "line 9" in error.message


def test_backslash_in_double_quotes_gets_a_hint(site: Path) -> None:
    # "\d" is not a TOML escape: a syntax error, and the hint says why.
    error = load_error(site, minimal(site) + 'health_check = ["{install_dir}\\dump.exe"]\n')
    assert error.hint is not None
    assert "single quotes" in error.hint
    # "\t" is a valid escape (a tab): not a syntax error, but no path has a tab.
    error = load_error(site, minimal(site) + 'health_check = ["{install_dir}\\tpv.exe"]\n')
    assert "products.tpv.health_check[0]" in error.message
    assert error.hint is not None
    assert "single quotes" in error.hint


def test_number_instead_of_text_gets_a_hint(site: Path) -> None:
    error = load_error(site, minimal(site) + "prestashop_version = 8.1\n")
    assert error.hint is not None
    assert "quotes" in error.hint


def test_errors_without_a_file_name_the_key(site: Path) -> None:
    with pytest.raises(ConfigError, match=r"feed\.channel") as info:
        parse_config(
            minimal(site).replace("[feed]", '[feed]\nchannel = "Stable"'),
            base_dir=site,
            source=None,
        )
    assert "config.toml" not in info.value.message


def edit(old: str, new: str) -> Callable[[str], str]:
    def change(text: str) -> str:
        assert old in text
        return text.replace(old, new, 1)

    return change


def append(extra: str) -> Callable[[str], str]:
    return lambda text: text + extra


TPV = "[products.tpv]\n"

ERRORS: list[tuple[str, Callable[[str], str], str, str]] = [
    # id, change to the minimal config, key named, words of the problem
    (
        "no-feed",
        edit('[feed]\nurl = "https://updates.example/feed/"\nroot = "root.json"\n', ""),
        "feed",
        "missing",
    ),
    (
        "feed-not-table",
        edit(
            '[feed]\nurl = "https://updates.example/feed/"\nroot = "root.json"\n',
            'feed = "https://updates.example/feed/"\n',
        ),
        "feed",
        "expected a table, found a string",
    ),
    (
        "feed-url-missing",
        edit('url = "https://updates.example/feed/"\n', ""),
        "feed.url",
        "missing",
    ),
    (
        "feed-url-scheme",
        edit("https://updates.example", "ftp://updates.example"),
        "feed.url",
        "not supported",
    ),
    (
        "feed-url-no-host",
        edit("https://updates.example/feed/", "https:///feed/"),
        "feed.url",
        "no server",
    ),
    (
        "feed-url-bad-ipv6",
        edit("https://updates.example/feed/", "http://[::1/feed/"),
        "feed.url",
        "not a valid address",
    ),
    (
        "mirror-twice",
        edit(
            'root = "root.json"',
            'root = "root.json"\nmirrors = ["https://m.example/f", "https://m.example/f/"]',
        ),
        "feed.mirrors[1]",
        "more than once",
    ),
    (
        "mirrors-string",
        edit('root = "root.json"', 'root = "root.json"\nmirrors = "https://m/"'),
        "feed.mirrors",
        "expected a list of strings, found a string",
    ),
    ("root-missing-key", edit('root = "root.json"\n', ""), "feed.root", "missing"),
    (
        "root-missing-file",
        edit('root = "root.json"', 'root = "keys/root.json"'),
        "feed.root",
        "does not exist",
    ),
    ("root-is-folder", edit('root = "root.json"', 'root = "."'), "feed.root", "folder"),
    (
        "ca-bundle-missing",
        edit('root = "root.json"', 'root = "root.json"\nca_bundle = "ca.pem"'),
        "feed.ca_bundle",
        "does not exist",
    ),
    (
        "channel-uppercase",
        edit('root = "root.json"', 'root = "root.json"\nchannel = "Stable"'),
        "feed.channel",
        "not a valid channel",
    ),
    (
        "channel-path",
        edit('root = "root.json"', 'root = "root.json"\nchannel = "../beta"'),
        "feed.channel",
        "not a valid channel",
    ),
    (
        "channel-newline",
        edit('root = "root.json"', 'root = "root.json"\nchannel = "beta\\n"'),
        "feed.channel",
        "control character",
    ),
    (
        "typo-install-dir",
        edit("install_dir =", "instal_dir ="),
        "products.tpv.instal_dir",
        "did you mean install_dir",
    ),
    (
        "typo-top-level",
        lambda t: "check_interval = 6\n" + t,
        "check_interval",
        "did you mean check_interval_hours",
    ),
    ("typo-feed", edit("root =", "roots ="), "feed.roots", "did you mean root"),
    (
        "typo-hooks",
        append('[products.tpv.hooks]\npre_snap = ["x"]\n'),
        "products.tpv.hooks.pre_snap",
        "did you mean pre_snapshot",
    ),
    ("unknown-key-far", append("colour = 3\n"), "products.tpv.colour", "keys allowed here"),
    ("name-missing", edit('name = "InnovaCommerce TPV"\n', ""), "products.tpv.name", "missing"),
    (
        "name-empty",
        edit('name = "InnovaCommerce TPV"', 'name = "  "'),
        "products.tpv.name",
        "empty",
    ),
    (
        "executable-missing",
        edit('executable = "tpv.exe"\n', ""),
        "products.tpv.executable",
        "missing",
    ),
    (
        "executable-absolute",
        edit('executable = "tpv.exe"', "executable = 'C:\\tpv.exe'"),
        "products.tpv.executable",
        "relative to the install folder",
    ),
    (
        "executable-escapes",
        edit('executable = "tpv.exe"', "executable = '..\\other\\tpv.exe'"),
        "products.tpv.executable",
        "relative to the install folder",
    ),
    (
        "install-dir-number",
        edit("install_dir = '", "install_dir = 3 #'"),
        "products.tpv.install_dir",
        "expected a string, found a number (3)",
    ),
    (
        "install-dir-root",
        edit("install_dir = '", "install_dir = '/' #'"),
        "products.tpv.install_dir",
        "root",
    ),
    (
        "data-paths-string",
        append("data_paths = 'data'\n"),
        "products.tpv.data_paths",
        "expected a list of strings, found a string",
    ),
    (
        "data-path-number",
        append("data_paths = [1]\n"),
        "products.tpv.data_paths[0]",
        "expected a string, found a number",
    ),
    (
        "health-check-string",
        append("health_check = 'tpv.exe --self-test'\n"),
        "products.tpv.health_check",
        "expected a list of strings, found a string",
    ),
    (
        "health-check-empty",
        append("health_check = []\n"),
        "products.tpv.health_check",
        "at least the program",
    ),
    (
        "health-check-mixed",
        append('health_check = ["tpv.exe", 3]\n'),
        "products.tpv.health_check[1]",
        "expected a string, found a number (3)",
    ),
    (
        "health-check-empty-program",
        append('health_check = ["", "x"]\n'),
        "products.tpv.health_check[0]",
        "must not be empty",
    ),
    (
        "health-check-relative-program",
        append('health_check = ["tools/check.exe"]\n'),
        "products.tpv.health_check[0]",
        "relative path",
    ),
    (
        "placeholder-typo",
        append('health_check = ["{instal_dir}/tpv.exe"]\n'),
        "products.tpv.health_check[0]",
        "unknown placeholder {instal_dir}",
    ),
    (
        "negative-timeout",
        append('health_check = ["{install_dir}/tpv.exe"]\nhealth_timeout = -5\n'),
        "products.tpv.health_timeout",
        "greater than 0, not -5",
    ),
    (
        "zero-timeout",
        append('health_check = ["{install_dir}/tpv.exe"]\nhealth_timeout = 0\n'),
        "products.tpv.health_timeout",
        "greater than 0",
    ),
    (
        "nan-timeout",
        append('health_check = ["{install_dir}/tpv.exe"]\nhealth_timeout = nan\n'),
        "products.tpv.health_timeout",
        "greater than 0",
    ),
    (
        "bool-timeout",
        append('health_check = ["{install_dir}/tpv.exe"]\nhealth_timeout = true\n'),
        "products.tpv.health_timeout",
        "expected a number, found true/false",
    ),
    (
        "string-timeout",
        append('health_check = ["{install_dir}/tpv.exe"]\nhealth_timeout = "60"\n'),
        "products.tpv.health_timeout",
        "expected a number, found a string",
    ),
    (
        "timeout-without-check",
        append("health_timeout = 30\n"),
        "products.tpv.health_timeout",
        "no health_check",
    ),
    (
        "hooks-negative-timeout",
        append('[products.tpv.hooks]\npost_swap = ["x"]\ntimeout = -1\n'),
        "products.tpv.hooks.timeout",
        "greater than 0",
    ),
    (
        "hooks-timeout-alone",
        append("[products.tpv.hooks]\ntimeout = 10\n"),
        "products.tpv.hooks.timeout",
        "no hook",
    ),
    (
        "hooks-not-table",
        append('hooks = ["x"]\n'),
        "products.tpv.hooks",
        "expected a table, found a list",
    ),
    (
        "interval-zero",
        lambda t: "check_interval_hours = 0\n" + t,
        "check_interval_hours",
        "greater than 0",
    ),
    ("bad-product-id", edit(TPV, "[products.TPV]\n"), "products.TPV", "not a valid product id"),
    (
        "bad-product-id-quoted",
        edit(TPV, '[products."caja 1"]\n'),
        'products."caja 1"',
        "not a valid product id",
    ),
    (
        "product-scalar",
        lambda t: t.split(TPV)[0] + "[products]\ntpv = 'x'\n",
        "products.tpv",
        "expected a table, found a string",
    ),
    ("no-products", lambda t: t.split(TPV)[0], "products", "no product is configured"),
    (
        "empty-products",
        lambda t: t.split(TPV)[0] + "[products]\n",
        "products",
        "no product is configured",
    ),
    (
        "both-prestashop",
        append('prestashop_version = "8.1.2"\nprestashop_command = ["php"]\n'),
        "products.tpv.prestashop_command",
        "not both",
    ),
    (
        "bad-prestashop-version",
        append('prestashop_version = "latest"\n'),
        "products.tpv.prestashop_version",
        "not a valid version",
    ),
    (
        "float-prestashop-version",
        append("prestashop_version = 8.1\n"),
        "products.tpv.prestashop_version",
        "expected a string, found a number (8.1)",
    ),
    (
        "prestashop-timeout-alone",
        append('prestashop_version = "8.1"\nprestashop_timeout = 5\n'),
        "products.tpv.prestashop_timeout",
        "no prestashop_command",
    ),
    (
        "registry-without-key",
        append('version_from = "registry"\n'),
        "products.tpv.registry_key",
        "required",
    ),
    (
        "registry-key-path",
        append(
            'version_from = "registry"\nregistry_key = '
            "'HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Uninstall\\x'\n"
        ),
        "products.tpv.registry_key",
        "not a path",
    ),
    (
        "version-file-with-registry",
        append('version_from = "registry"\nregistry_key = "x"\nversion_file = "VERSION"\n'),
        "products.tpv.version_file",
        "only used with version_from",
    ),
    (
        "registry-key-with-file",
        append('registry_key = "x"\n'),
        "products.tpv.registry_key",
        'only used with version_from = "registry"',
    ),
    (
        "bad-version-from",
        append('version_from = "msi"\n'),
        "products.tpv.version_from",
        "must be one of file, registry, file_version",
    ),
    (
        "version-file-absolute",
        append("version_file = '/VERSION'\n"),
        "products.tpv.version_file",
        "relative",
    ),
    ("keep-zero", append("[retention]\nkeep = 0\n"), "retention.keep", "at least 1, not 0"),
    (
        "keep-float",
        append("[retention]\nkeep = 2.0\n"),
        "retention.keep",
        "expected a whole number",
    ),
    (
        "max-disk-negative",
        append("[retention]\nmax_disk_mb = -1\n"),
        "retention.max_disk_mb",
        "at least 1",
    ),
    ("bad-language", lambda t: 'language = "fr"\n' + t, "language", "must be one of es, en"),
    ("language-locale", lambda t: 'language = "es_ES"\n' + t, "language", "must be one of"),
]


@pytest.mark.parametrize(
    ("change", "key", "words"),
    [pytest.param(change, key, words, id=name) for name, change, key, words in ERRORS],
)
def test_error_names_file_and_key(
    site: Path, change: Callable[[str], str], key: str, words: str
) -> None:
    text = change(minimal(site))
    error = load_error(site, text)
    assert f"at {key}:" in error.message, error.message
    assert words in error.message, error.message


def data_error(site: Path, tmp_path: Path, paths: list[Path], extra: str = "") -> ConfigError:
    listed = ", ".join(f"'{path}'" for path in paths)
    return load_error(site, minimal(site) + f"data_paths = [{listed}]\n" + extra)


def test_data_path_inside_install_dir(site: Path, tmp_path: Path) -> None:
    error = data_error(site, tmp_path, [tmp_path / "data", tmp_path / "apps" / "tpv" / "db"])
    assert "at products.tpv.data_paths[1]:" in error.message
    assert "is inside products.tpv.install_dir" in error.message


def test_data_path_containing_install_dir(site: Path, tmp_path: Path) -> None:
    error = data_error(site, tmp_path, [tmp_path / "apps"])
    assert "at products.tpv.data_paths[0]:" in error.message
    assert "contains products.tpv.install_dir" in error.message


def test_data_path_equal_to_install_dir(site: Path, tmp_path: Path) -> None:
    error = data_error(site, tmp_path, [tmp_path / "apps" / "x" / ".." / "tpv"])
    assert "is the same as products.tpv.install_dir" in error.message


def test_overlapping_data_paths(site: Path, tmp_path: Path) -> None:
    error = data_error(site, tmp_path, [tmp_path / "data", tmp_path / "data" / "tpv.ini"])
    assert "at products.tpv.data_paths[1]:" in error.message
    assert "is inside products.tpv.data_paths[0]" in error.message
    error = data_error(site, tmp_path, [tmp_path / "data", tmp_path / "data"])
    assert "is the same as products.tpv.data_paths[0]" in error.message


def test_overlap_through_a_symbolic_link(site: Path, tmp_path: Path) -> None:
    (tmp_path / "apps" / "tpv").mkdir(parents=True)
    link = tmp_path / "link"
    symlink(link, tmp_path / "apps" / "tpv", directory=True)
    error = data_error(site, tmp_path, [link / "db"])
    assert "is inside products.tpv.install_dir" in error.message


def test_products_must_not_share_folders(site: Path, tmp_path: Path) -> None:
    second = f"""
[products.erp]
name = "ERP"
install_dir = '{tmp_path / "apps" / "tpv" / "erp"}'
executable = "erp.exe"
"""
    error = load_error(site, minimal(site) + second)
    assert "at products.erp.install_dir:" in error.message
    assert "inside products.tpv.install_dir" in error.message

    second = f"""
[products.erp]
name = "ERP"
install_dir = '{tmp_path / "apps" / "erp"}'
executable = "erp.exe"
data_paths = ['{tmp_path / "apps" / "tpv" / "shared"}']
"""
    error = load_error(site, minimal(site) + second)
    assert "at products.erp.data_paths[0]:" in error.message
    assert "inside products.tpv.install_dir" in error.message


def test_state_dir_must_be_apart_from_products(site: Path, tmp_path: Path) -> None:
    text = f"state_dir = '{tmp_path / 'apps' / 'tpv' / 'state'}'\n" + minimal(site)
    error = load_error(site, text)
    assert "at state_dir:" in error.message
    assert "inside products.tpv.install_dir" in error.message
    text = f"state_dir = '{tmp_path}'\n" + minimal(site)
    error = load_error(site, text)
    assert "contains products.tpv.install_dir" in error.message


# --- robustness: whatever the values, only ConfigError escapes ----------------------------


def toml_value(value: Any) -> str:
    """A tiny TOML writer for the values below (inline tables, literal strings)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return "'" + value + "'"
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    assert isinstance(value, dict)
    return "{" + ", ".join(f'"{k}" = {toml_value(v)}' for k, v in value.items()) + "}"


GARBAGE: list[Any] = [
    "",
    "x",
    "{install_dir}",
    0,
    -1,
    3,
    1.5,
    float("inf"),
    True,
    [],
    [""],
    [1],
    ["a", "b"],
    [[]],
    {},
    {"x": 1},
    datetime.date(2024, 1, 2),
]


def full_document(site: Path) -> dict[str, Any]:
    base = site.parent
    return {
        "state_dir": str(base / "state"),
        "check_interval_hours": 6,
        "language": "en",
        "feed": {
            "url": "https://u.example/f/",
            "mirrors": ["https://m.example/f/"],
            "root": "root.json",
            "channel": "stable",
            "ca_bundle": "root.json",
        },
        "retention": {"keep": 2, "max_disk_mb": 10},
        "products": {
            "tpv": {
                "name": "TPV",
                "install_dir": str(base / "apps" / "tpv"),
                "executable": "tpv.exe",
                "version_from": "file",
                "version_file": "VERSION",
                "data_paths": [str(base / "data")],
                "prestashop_command": ["php", "v"],
                "prestashop_timeout": 3,
                "health_check": ["{install_dir}/tpv.exe"],
                "health_timeout": 3,
                "hooks": {
                    "pre_snapshot": ["a"],
                    "post_swap": ["b"],
                    "post_restore": ["c"],
                    "timeout": 3,
                },
            }
        },
    }


def leaf_paths(document: dict[str, Any], prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found: list[tuple[str, ...]] = []
    for key, value in document.items():
        found.append((*prefix, key))
        if isinstance(value, dict):
            found.extend(leaf_paths(value, (*prefix, key)))
    return found


def test_any_value_anywhere_raises_only_config_error(site: Path) -> None:
    base = full_document(site)
    text = "\n".join(f"{k} = {toml_value(v)}" for k, v in base.items())
    load_config(write(site, text))  # the base is valid
    tried = 0
    for where in leaf_paths(base):
        for garbage in GARBAGE:
            document = full_document(site)
            table = document
            for part in where[:-1]:
                table = table[part]
            table[where[-1]] = garbage
            text = "\n".join(f"{k} = {toml_value(v)}" for k, v in document.items())
            path = write(site, text)
            try:
                load_config(path)
            except ConfigError as exc:
                assert type(exc) is ConfigError
                assert str(path) in exc.message
            tried += 1
    assert tried > 300
