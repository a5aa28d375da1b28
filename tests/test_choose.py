"""Which release a machine is offered, and the reason for every release it is not."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from packaging.version import Version

from updater.feed.choose import choose, rollout_bucket
from updater.feed.manifest import Product, parse_manifest

SHA = "a" * 64


def release(version: str, **extra: Any) -> dict[str, Any]:
    return {
        "version": version, "channel": "stable", "released": "2026-11-01",
        "notes": {"es": "n", "en": "n"},
        "packages": [{
            "type": "zip", "target": f"packages/tpv/{version}/tpv.zip", "size": 10, "sha256": SHA,
            "installed_size": 10, "file_count": 1,
            "file_list": {"target": f"packages/tpv/{version}/f.json", "size": 1, "sha256": SHA},
        }],
        **extra,
    }  # fmt: skip


def product(*releases: dict[str, Any]) -> Product:
    products = {"tpv": {"releases": list(releases)}}
    document = {"schema_version": 1, "channel": "stable", "products": products}
    found = parse_manifest(json.dumps(document).encode()).product("tpv")
    assert found is not None
    return found


def pick(p: Product, installed: str | None = "1.0.0", **options: Any) -> Any:
    defaults: dict[str, Any] = {
        "prestashop": Version("8.1.2"),
        "updater_version": Version("1.0"),
        "machine_id": "machine-a",
    }
    return choose(p, Version(installed) if installed else None, **{**defaults, **options})


def test_newest_newer_release_is_offered() -> None:
    choice = pick(product(release("1.0.0"), release("1.0.1"), release("1.1.0")))
    assert str(choice.offer.version) == "1.1.0"
    assert choice.not_offered == ()


def test_nothing_newer_means_no_offer() -> None:
    assert pick(product(release("1.0.0")), installed="1.0.0").offer is None


def test_only_bugfix_skips_feature_releases_with_a_reason() -> None:
    choice = pick(product(release("1.0.0"), release("1.0.1"), release("1.1.0")), only="bugfix")
    assert str(choice.offer.version) == "1.0.1"
    [refused] = choice.not_offered
    assert "only bug-fix updates were asked for" in refused.reason


def test_prestashop_range_is_respected() -> None:
    p = product(release("1.0.0"), release("2.0.0", prestashop=">=9"))
    choice = pick(p)
    assert choice.offer is None
    assert "needs PrestaShop >=9 and this shop has 8.1.2" in choice.not_offered[0].reason
    assert "unknown" in pick(p, prestashop=None).not_offered[0].reason
    assert str(pick(p, prestashop=Version("9.0.1")).offer.version) == "2.0.0"


def test_minimum_updater_version_is_respected() -> None:
    p = product(release("1.0.0"), release("2.0.0", min_updater_version="3.0"))
    choice = pick(p)
    assert choice.offer is None and "Updater 3.0 or newer" in choice.not_offered[0].reason


def test_skipped_release_is_not_offered_unless_critical() -> None:
    p = product(release("1.0.0"), release("1.0.1"))
    assert pick(p, skipped={Version("1.0.1")}).offer is None
    critical = product(release("1.0.0"), release("1.0.1", critical=True))
    assert pick(critical, skipped={Version("1.0.1")}).offer is not None


def test_rollout_bucket_is_stable_per_machine_and_differs_between_releases() -> None:
    first = rollout_bucket("machine-a", "tpv", Version("1.0.1"))
    assert first == rollout_bucket("machine-a", "tpv", Version("1.0.1"))
    buckets = {rollout_bucket("machine-a", "tpv", Version(f"1.0.{n}")) for n in range(50)}
    assert len(buckets) > 20  # not the same bucket for every release
    spread = Counter(rollout_bucket(f"m{n}", "tpv", Version("1.0.1")) // 10 for n in range(5000))
    assert min(spread.values()) > 350  # about 500 machines per tenth


def test_rollout_percentage_offers_to_buckets_below_it_and_zero_halts() -> None:
    machines = [f"machine-{n}" for n in range(400)]
    at_25 = product(release("1.0.0"), release("1.0.1", rollout_percent=25))
    offered = sum(pick(at_25, machine_id=m).offer is not None for m in machines)
    assert 60 < offered < 140
    halted = product(release("1.0.0"), release("1.0.1", rollout_percent=0))
    assert all(pick(halted, machine_id=m).offer is None for m in machines)
    assert all(pick(halted, machine_id=m, ignore_rollout=True).offer for m in machines[:5])


def test_to_version_picks_exactly_that_release() -> None:
    p = product(release("1.0.0"), release("1.0.1"), release("1.1.0"))
    assert str(pick(p, to_version=Version("1.0.1")).offer.version) == "1.0.1"
    assert pick(p, to_version=Version("7.0")).offer is None
