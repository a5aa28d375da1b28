"""Shared test setup: offscreen Qt, English messages, a pristine signed feed per test."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.elevating import elevating_fixture
from tests.feedkit import Feed, build_feed
from tests.feedserver import FeedServer, feed_server
from tests.inbox import inbox_fixture
from tests.shopkit import shop_fixture
from updater.i18n import set_language

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["INNOVA_LANG"] = "en"
# The tests' servers are on 127.0.0.1: never send their traffic through a proxy.
for _var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
    os.environ.pop(_var, None)


@pytest.fixture(autouse=True)
def _english() -> Iterator[None]:
    set_language("en")
    yield
    set_language("en")


@pytest.fixture(scope="session")
def _feed_template(tmp_path_factory: pytest.TempPathFactory) -> Feed:
    """Built once per run: two products with three releases each, signed 1-of-1."""
    return build_feed(tmp_path_factory.mktemp("feed-template"))


@pytest.fixture
def feed(_feed_template: Feed, tmp_path: Path) -> Feed:
    """A private copy of the template feed (workspace, keys and published files)."""
    target = tmp_path / "pub"
    shutil.copytree(_feed_template.base, target)
    return _feed_template.moved_to(target)


@pytest.fixture
def server(feed: Feed) -> Iterator[FeedServer]:
    """The feed's public folder served over real HTTP on 127.0.0.1."""
    yield from feed_server(feed.repo.feed_dir)


#: A shop's PC with a served feed (see tests/shopkit.py).
shop = pytest.fixture(shop_fixture, name="shop")

#: The shop's platform as a standard user's: updates go to the elevated updater.
elevating = pytest.fixture(elevating_fixture, name="elevating")

#: A support server that records uploaded bundles: (its URL, the handler class).
inbox = pytest.fixture(inbox_fixture, name="inbox")
