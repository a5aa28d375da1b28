"""Reading the tables of the configuration file into the frozen dataclasses.

:class:`ConfigReader` walks the TOML document top down (the top level, ``[feed]``,
``[retention]``, each ``[products.<id>]`` and its ``hooks``): which keys each table
allows, which are required, which go together, the defaults, and the rules across
tables (install folders, data paths and the state folder never overlap). Each value is
read by the :class:`~updater.machine._config_values.ValueReader` it extends, so every
error names the key path. :func:`updater.machine.config.parse_config` is its one caller.

May import: the configuration's model and value readers (``updater.machine._config_*``),
the foundation (:mod:`updater.locations`), the core (errors, i18n) and
:mod:`packaging`.
"""

from __future__ import annotations

import urllib.parse
from pathlib import Path
from types import MappingProxyType
from typing import Any

from packaging.version import InvalidVersion, Version

from updater.errors import ConfigError
from updater.i18n import SUPPORTED, _
from updater.locations import feed_url
from updater.machine._config_model import (
    FeedConfig,
    HealthCheck,
    Hooks,
    MachineConfig,
    Prestashop,
    ProductConfig,
    Retention,
    VersionKind,
    VersionSource,
    default_state_dir,
)
from updater.machine._config_values import ValueReader, key_path

__all__ = ["ConfigReader"]

_VERSION_KINDS: tuple[VersionKind, ...] = ("file", "registry", "file_version")

_TOP_KEYS = (
    "state_dir",
    "check_interval_hours",
    "language",
    "support_url",
    "support_contact",
    "feed",
    "retention",
    "products",
)
_FEED_KEYS = ("url", "mirrors", "root", "channel", "channels", "ca_bundle")
_RETENTION_KEYS = ("keep", "max_disk_mb")
_PRODUCT_KEYS = (
    "name",
    "install_dir",
    "executable",
    "version_from",
    "version_file",
    "registry_key",
    "version_executable",
    "data_paths",
    "prestashop_version",
    "prestashop_command",
    "prestashop_timeout",
    "health_check",
    "health_timeout",
    "hooks",
)
_HOOK_KEYS = ("pre_snapshot", "post_swap", "post_restore", "timeout")
# Which product keys belong to which version_from kind.
_VERSION_KEYS: dict[str, VersionKind] = {
    "version_file": "file",
    "registry_key": "registry",
    "version_executable": "file_version",
}


class ConfigReader(ValueReader):
    """Builds the :class:`MachineConfig` of one TOML document, table by table."""

    def config(self, document: dict[str, Any]) -> MachineConfig:
        top = self.table(document, "", _TOP_KEYS)

        state_dir = (
            self.path(top["state_dir"], "state_dir") if "state_dir" in top else default_state_dir()
        )
        interval = 6.0
        if "check_interval_hours" in top:
            interval = self.positive(top["check_interval_hours"], "check_interval_hours")
        language: str | None = None
        if "language" in top:
            language = self.string(top["language"], "language")
            if language not in SUPPORTED:
                raise self.bad(
                    "language",
                    _("must be one of {choices}, not '{value}'.").format(
                        choices=", ".join(SUPPORTED), value=language
                    ),
                )
        support_url: str | None = None
        if "support_url" in top:
            support_url = self.string(top["support_url"], "support_url").strip()
            if urllib.parse.urlsplit(support_url).scheme not in ("http", "https"):
                raise self.bad("support_url", _("must be an http:// or https:// address."))
        support_contact: str | None = None
        if "support_contact" in top:
            support_contact = " ".join(
                self.string(top["support_contact"], "support_contact").split()
            )
            if not 1 <= len(support_contact) <= 200:
                raise self.bad("support_contact", _("must be 1 to 200 characters long."))
        if "feed" not in top:
            raise self.bad(
                "feed",
                _("the [feed] table is missing; it says where updates come from."),
            )
        feed = self.feed(top["feed"])
        retention = self.retention(top.get("retention", {}))
        products = self.products(top.get("products"))
        self.check_state_dir(state_dir, "state_dir", products)
        return MachineConfig(
            source=self.source,
            state_dir=state_dir,
            feed=feed,
            products=MappingProxyType(products),
            retention=retention,
            check_interval_hours=interval,
            language=language,
            support_url=support_url,
            support_contact=support_contact,
        )

    def feed_address(self, value: object, key: str) -> str:
        text = self.string(value, key).strip()
        try:
            scheme = urllib.parse.urlsplit(text).scheme
            if (scheme == "" or len(scheme) == 1) and not text.startswith("~"):
                # A folder: relative to the configuration file, not the current folder.
                text = str(self.path(text, key))
            return feed_url(text)
        except ConfigError as exc:
            raise self.bad(key, exc.message, exc.hint) from exc
        except (ValueError, OSError, RuntimeError) as exc:
            # The text is not repeated: it may hold a user name and password.
            raise self.bad(key, _("not a valid address: {error}").format(error=exc)) from exc

    def feed(self, value: object) -> FeedConfig:
        raw = self.table(value, "feed", _FEED_KEYS)
        if "url" not in raw:
            raise self.missing("feed.url")
        url = self.feed_address(raw["url"], "feed.url")
        mirrors: list[str] = []
        if "mirrors" in raw:
            listed = raw["mirrors"]
            if not isinstance(listed, list):
                raise self.wrong_type("feed.mirrors", _("a list of strings"), listed)
            for index, item in enumerate(listed):
                where = key_path("feed", "mirrors", index)
                mirror = self.feed_address(item, where)
                if mirror == url or mirror in mirrors:
                    raise self.bad(where, _("{url} is listed more than once.").format(url=mirror))
                mirrors.append(mirror)
        if "root" not in raw:
            raise self.missing("feed.root")
        root = self.readable_file(
            raw["root"],
            "feed.root",
            hint=_(
                "The root of trust (root.json) comes with the updater's installer; "
                "reinstall it or ask support for the file."
            ),
        )
        channel = "stable"
        if "channel" in raw:
            channel = self.identifier(
                self.string(raw["channel"], "feed.channel"),
                "feed.channel",
                _("'{value}' is not a valid channel name."),
            )
        channels: list[str] = []
        if "channels" in raw:
            listed = raw["channels"]
            if not isinstance(listed, list):
                raise self.wrong_type("feed.channels", _("a list of strings"), listed)
            for index, item in enumerate(listed):
                where = key_path("feed", "channels", index)
                name = self.identifier(
                    self.string(item, where), where, _("'{value}' is not a valid channel name.")
                )
                if name not in channels:
                    channels.append(name)
        ca_bundle = None
        if "ca_bundle" in raw:
            ca_bundle = self.readable_file(raw["ca_bundle"], "feed.ca_bundle")
        return FeedConfig(
            url=url, mirrors=tuple(mirrors), root=root, channel=channel, ca_bundle=ca_bundle,
            channels=tuple(channels),
        )  # fmt: skip

    def retention(self, value: object) -> Retention:
        raw = self.table(value, "retention", _RETENTION_KEYS)
        keep = self.whole(raw["keep"], "retention.keep", 1) if "keep" in raw else 2
        max_disk_mb = None
        if "max_disk_mb" in raw:
            max_disk_mb = self.whole(raw["max_disk_mb"], "retention.max_disk_mb", 1)
        return Retention(keep=keep, max_disk_mb=max_disk_mb)

    def products(self, value: object) -> dict[str, ProductConfig]:
        no_products = _("no product is configured; add a [products.<id>] table for each one.")
        if value is None:
            raise self.bad("products", no_products)
        if not isinstance(value, dict):
            raise self.wrong_type("products", _("a table"), value)
        if not value:
            raise self.bad("products", no_products)
        products: dict[str, ProductConfig] = {}
        for product_id, raw in value.items():
            key = key_path("products", product_id)
            self.identifier(product_id, key, _("'{value}' is not a valid product id."))
            product = self.product(product_id, raw, key)
            for other in products.values():
                self.check_apart(
                    product.install_dir,
                    key_path(key, "install_dir"),
                    other.install_dir,
                    key_path("products", other.id, "install_dir"),
                )
            products[product_id] = product
        for product in products.values():
            for other in products.values():
                if other is product:
                    continue
                for index, data_path in enumerate(product.data_paths):
                    self.check_apart(
                        data_path,
                        key_path("products", product.id, "data_paths", index),
                        other.install_dir,
                        key_path("products", other.id, "install_dir"),
                    )
        return products

    def optional_positive(self, raw: dict[str, Any], name: str, key: str, default: float) -> float:
        return self.positive(raw[name], key_path(key, name)) if name in raw else default

    def product(self, product_id: str, value: object, key: str) -> ProductConfig:
        raw = self.table(value, key, _PRODUCT_KEYS)
        for required in ("name", "install_dir", "executable"):
            if required not in raw:
                raise self.missing(key_path(key, required))
        name = self.string(raw["name"], key_path(key, "name")).strip()
        install_dir = self.path(raw["install_dir"], key_path(key, "install_dir"))
        if install_dir.parent == install_dir:
            raise self.bad(
                key_path(key, "install_dir"),
                _(
                    "{path} is the root of a drive; the install folder is replaced by each update."
                ).format(path=install_dir),
            )
        executable = self.relative_file(raw["executable"], key_path(key, "executable"))
        version = self.version_source(raw, key, executable)

        health_check = HealthCheck()
        if "health_check" in raw:
            health_check = HealthCheck(
                command=self.command(raw["health_check"], key_path(key, "health_check")),
                timeout=self.optional_positive(raw, "health_timeout", key, 60.0),
            )
        elif "health_timeout" in raw:
            raise self.bad(
                key_path(key, "health_timeout"),
                _("is set, but there is no {command} to time.").format(command="health_check"),
            )

        data_paths = self.data_paths(raw.get("data_paths", []), key, install_dir)
        prestashop = self.prestashop(raw, key)
        hooks = self.hooks(raw.get("hooks", {}), key_path(key, "hooks"))
        return ProductConfig(
            id=product_id,
            name=name,
            install_dir=install_dir,
            executable=executable,
            version=version,
            health_check=health_check,
            data_paths=data_paths,
            prestashop=prestashop,
            hooks=hooks,
        )

    def version_source(self, raw: dict[str, Any], key: str, executable: str) -> VersionSource:
        kind: VersionKind = "file"
        if "version_from" in raw:
            given = self.string(raw["version_from"], key_path(key, "version_from"))
            for candidate in _VERSION_KINDS:
                if given == candidate:
                    kind = candidate
                    break
            else:
                raise self.bad(
                    key_path(key, "version_from"),
                    _("must be one of {choices}, not '{value}'.").format(
                        choices=", ".join(_VERSION_KINDS), value=given
                    ),
                )
        for name, used_with in _VERSION_KEYS.items():
            if name in raw and used_with != kind:
                raise self.bad(
                    key_path(key, name),
                    _('is only used with version_from = "{used_with}", not "{kind}".').format(
                        used_with=used_with, kind=kind
                    ),
                )
        if kind == "file":
            file = "VERSION"
            if "version_file" in raw:
                file = self.relative_file(raw["version_file"], key_path(key, "version_file"))
            return VersionSource(kind="file", file=file)
        if kind == "registry":
            if "registry_key" not in raw:
                raise self.bad(
                    key_path(key, "registry_key"),
                    _('is required with version_from = "registry".'),
                )
            registry_key = self.string(raw["registry_key"], key_path(key, "registry_key")).strip()
            if "\\" in registry_key or "/" in registry_key:
                raise self.bad(
                    key_path(key, "registry_key"),
                    _("must be the name of the uninstall key only, not a path."),
                    hint=_("Give only the part after ...\\Uninstall\\, as in {example}.").format(
                        example="{8F3C2A10-5B7E-4C1D-9A2B-3E4F5A6B7C8D}_is1"
                    ),
                )
            return VersionSource(kind="registry", registry_key=registry_key)
        version_executable = executable
        if "version_executable" in raw:
            version_executable = self.relative_file(
                raw["version_executable"], key_path(key, "version_executable")
            )
        return VersionSource(kind="file_version", executable=version_executable)

    def data_paths(self, value: object, product_key: str, install_dir: Path) -> tuple[Path, ...]:
        key = key_path(product_key, "data_paths")
        if not isinstance(value, list):
            raise self.wrong_type(key, _("a list of strings"), value)
        paths: list[Path] = []
        for index, item in enumerate(value):
            where = key_path(key, index)
            path = self.path(item, where)
            self.check_apart(path, where, install_dir, key_path(product_key, "install_dir"))
            for other_index, other in enumerate(paths):
                self.check_apart(path, where, other, key_path(key, other_index))
            paths.append(path)
        return tuple(paths)

    def check_state_dir(
        self, state_dir: Path, key: str, products: dict[str, ProductConfig]
    ) -> None:
        for product in products.values():
            self.check_apart(
                state_dir, key, product.install_dir, key_path("products", product.id, "install_dir")
            )
            for index, data_path in enumerate(product.data_paths):
                self.check_apart(
                    state_dir, key, data_path, key_path("products", product.id, "data_paths", index)
                )

    def prestashop(self, raw: dict[str, Any], key: str) -> Prestashop | None:
        has_version = "prestashop_version" in raw
        has_command = "prestashop_command" in raw
        if has_version and has_command:
            raise self.bad(
                key_path(key, "prestashop_command"),
                _("set either prestashop_version or prestashop_command, not both."),
            )
        if "prestashop_timeout" in raw and not has_command:
            raise self.bad(
                key_path(key, "prestashop_timeout"),
                _("is set, but there is no {command} to time.").format(
                    command="prestashop_command"
                ),
            )
        if has_version:
            where = key_path(key, "prestashop_version")
            version = self.string(raw["prestashop_version"], where).strip()
            try:
                Version(version)
            except InvalidVersion:
                raise self.bad(
                    where, _("'{value}' is not a valid version number.").format(value=version)
                ) from None
            return Prestashop(version=version)
        if has_command:
            return Prestashop(
                command=self.command(
                    raw["prestashop_command"], key_path(key, "prestashop_command")
                ),
                timeout=self.optional_positive(raw, "prestashop_timeout", key, 30.0),
            )
        return None

    def hooks(self, value: object, key: str) -> Hooks:
        raw = self.table(value, key, _HOOK_KEYS)
        commands = {
            name: self.command(raw[name], key_path(key, name))
            for name in ("pre_snapshot", "post_swap", "post_restore")
            if name in raw
        }
        if "timeout" in raw and not commands:
            raise self.bad(
                key_path(key, "timeout"),
                _("is set, but there is no hook to time."),
            )
        return Hooks(
            pre_snapshot=commands.get("pre_snapshot"),
            post_swap=commands.get("post_swap"),
            post_restore=commands.get("post_restore"),
            timeout=self.optional_positive(raw, "timeout", key, 300.0),
        )
