"""Texts one process stores and another shows (the history, the saved copies' reasons)
are shown in the reader's language: the nightly SYSTEM task writes in whatever language
SYSTEM has, the shop owner reads in Spanish (issue 18, point 1). And the check that no
message the Spanish UI shows from them is untranslated."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from typing import Any

import pytest
from babel.messages.pofile import read_po

from tests.shopkit import Shop
from updater.i18n import LOCALE_DIR, _, render, set_language, source_of
from updater.machine.history import History, Operation, Outcome


@pytest.fixture(autouse=True)
def english_writer() -> Iterator[None]:
    set_language("en")  # the process that writes: SYSTEM, in English
    yield
    set_language("en")


def spanish_catalog() -> dict[tuple[str, str | None], str]:
    with (LOCALE_DIR / "es" / "LC_MESSAGES" / "innova.po").open("rb") as po:
        catalog = read_po(po)
    found: dict[tuple[str, str | None], str] = {}
    for message in catalog:
        if not message.id:
            continue
        msgid = message.id[0] if isinstance(message.id, tuple) else message.id
        text = message.string[0] if isinstance(message.string, tuple) else message.string
        found[(msgid, message.context)] = text
    return found


def messages_in(source: Any) -> Iterator[tuple[str, str | None]]:
    """Every catalog message a stored source is made of."""
    if isinstance(source, dict):
        if "m" in source:
            yield source["m"], source.get("c")
        if "p" in source:
            yield source["p"][0], None
        for value in source.get("a", {}).values():
            yield from messages_in(value)
        for part in source.get("j", []):
            yield from messages_in(part)


def assert_all_spanish(sources: list[str | None]) -> None:
    """Each stored source is made only of messages with a Spanish translation."""
    catalog = spanish_catalog()
    used = [m for s in sources if s for m in messages_in(json.loads(s))]
    assert used, "nothing was stored with its source"
    missing = [m for m in used if not catalog.get(m)]
    assert not missing, f"stored messages without a Spanish translation: {missing}"


def test_a_message_is_said_again_in_the_readers_language() -> None:
    stored = _("The update server answered with error {status}.").format(status=503)
    hint = _("Nothing was changed.") + " " + _("Try again later.")
    set_language("es")
    assert render(source_of(stored), stored) == (
        "El servidor de actualizaciones ha respondido con el error 503."
    )
    assert render(source_of(hint), hint) == "No se ha cambiado nada. Vuelva a intentarlo más tarde."


@pytest.mark.parametrize(
    "source",
    [
        '{"m":"{x.__class__.__mro__}","a":{"x":"a"}}',  # not one of our messages
        '{"m":"{status}"}',  # a message, but its values are missing
        "not json",
        '{"j":[' * 50 + "]" * 50 + "}",
        '{"m":5}',
    ],
)
def test_a_stored_source_that_is_not_ours_shows_the_text_as_written(source: str) -> None:
    set_language("es")
    assert render(source, "as written") == "as written"


def test_history_written_in_english_reads_in_spanish(shop: Shop) -> None:
    shop.publish("1.0.1", self_test_exit=1)  # fails its self-check: rolled back
    shop.service.check()
    with pytest.raises(Exception, match="self-check"):
        shop.service.update("tpv")
    shop.server.override("metadata/timestamp.json", status=503)
    assert shop.service.check().offline  # recorded as failed; the last check is shown
    written = shop.service.history("tpv", limit=10) + shop.service.history(limit=10)
    english = {e.id: (e.message, e.details) for e in written}
    assert any("self-check" in (m or "") for m, _d in english.values())

    set_language("es")  # the owner's tray
    read = {e.id: e for e in shop.service.history(limit=20)}
    for entry_id, (message, details) in english.items():
        entry = read[entry_id]
        if message and entry.message_source:  # ("tpv 1.0.1" is in no language)
            assert entry.shown_message != message, message
        if details and entry.details_source:
            assert entry.shown_details != details
    shown = [e.shown_message or "" for e in read.values()]
    assert any("autocomprobación" in text for text in shown), shown
    assert any("error 503" in text and "servidor" in text for text in shown), shown
    assert_all_spanish([e.message_source for e in read.values()])


def test_a_saved_copys_reason_reads_in_the_readers_language(shop: Shop) -> None:
    shop.publish("1.0.1")
    shop.service.update("tpv")
    [saved] = shop.service.snapshots("tpv")
    assert saved.shown_reason == "before the update to 1.0.1"
    set_language("es")
    [saved] = shop.service.snapshots("tpv")
    assert saved.shown_reason == "antes de actualizar a la versión 1.0.1"
    assert_all_spanish([saved.reason_source])


def test_an_older_history_database_gains_the_source_columns(tmp_path: Any) -> None:
    path = tmp_path / "history.db"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 1")
    conn.execute(
        "CREATE TABLE history (id INTEGER PRIMARY KEY AUTOINCREMENT, started_at TEXT NOT NULL,"
        " finished_at TEXT, operation TEXT NOT NULL, product TEXT, from_version TEXT,"
        " to_version TEXT, outcome TEXT NOT NULL, error_code TEXT, message TEXT, details TEXT,"
        " duration_seconds REAL, owner_pid INTEGER, owner_started REAL)"
    )
    conn.execute(
        "INSERT INTO history (started_at, finished_at, operation, outcome, message)"
        " VALUES ('2026-01-01T00:00:00+00:00', '2026-01-01T00:00:01+00:00', 'check',"
        " 'success', 'written by an older updater')"
    )
    conn.commit()
    conn.close()
    with History(path) as history:
        history.record(Operation.CHECK, Outcome.FAILED, message=_("interrupted"))
        old, new = sorted(history.entries(), key=lambda e: e.id)
    set_language("es")
    assert old.shown_message == "written by an older updater"  # kept as written
    assert new.shown_message == "interrumpida"
