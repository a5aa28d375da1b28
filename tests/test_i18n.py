"""The Spanish catalog: complete, compiled, safe to ``.format()``, and actually used.

Works on the real files under ``updater/locale``. When a test here fails after adding or
changing a string, run ``.venv/bin/python updater/locale/update_catalog.py``, translate
the new entries of ``updater/locale/es/LC_MESSAGES/innova.po``, and run it again.
"""

from __future__ import annotations

import gettext
import io
import os
import string
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import babel.messages.catalog
import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po, write_po

from updater import i18n
from updater.i18n import _

ROOT = Path(__file__).resolve().parents[1]
LOCALE_DIR = ROOT / "updater" / "locale"
PO = LOCALE_DIR / "es" / "LC_MESSAGES" / "innova.po"
MO = LOCALE_DIR / "es" / "LC_MESSAGES" / "innova.mo"
SCRIPT = LOCALE_DIR / "update_catalog.py"
LANG_VARS = ("INNOVA_LANG", "LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")


@pytest.fixture(autouse=True)
def english_afterwards() -> Iterator[None]:
    """Other tests expect English messages: restore English whatever a test did."""
    yield
    i18n.set_language("en")


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for var in LANG_VARS:
        monkeypatch.delenv(var, raising=False)
    return monkeypatch


def source_messages() -> dict[str | tuple[str, ...], str]:
    """Every message marked in the source (as ``babel.cfg`` says), with one location."""
    with (LOCALE_DIR / "babel.cfg").open(encoding="utf-8") as fileobj:
        method_map, options_map = parse_mapping_cfg(fileobj)  # type: ignore[no-untyped-call]
    top_dirs = {pattern.split("/", 1)[0] for pattern, _method in method_map}

    def wanted(path: str) -> bool:
        rel = Path(os.path.relpath(path, ROOT))
        return rel.parts[0] in top_dirs and not rel.name.startswith((".", "_"))

    found: dict[str | tuple[str, ...], str] = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(
        ROOT, method_map, options_map, keywords={}, directory_filter=wanted
    ):
        found.setdefault(message, f"{filename}:{lineno}")
    return found


def spanish() -> Catalog:
    with PO.open("rb") as fileobj:
        return read_po(fileobj)


def forms(message: Message) -> list[str]:
    return (
        list(message.string) if isinstance(message.string, tuple | list) else [message.string or ""]
    )


def ids(message: Message) -> list[str]:
    return list(message.id) if isinstance(message.id, tuple | list) else [message.id]


def placeholders(text: str) -> set[tuple[str, str | None, str | None]]:
    """The ``{name!conv:spec}`` fields of a format string (ValueError if malformed)."""
    return {
        (name, conversion, spec or None)
        for _literal, name, spec, conversion in string.Formatter().parse(text)
        if name is not None
    }


# ------------------------------------------------------------------ the catalog itself


def test_every_source_message_has_a_spanish_translation() -> None:
    catalog = spanish()
    problems = []
    for msgid, where in sorted(source_messages().items(), key=lambda item: item[1]):
        singular = msgid[0] if isinstance(msgid, tuple) else msgid
        entry = catalog.get(singular)
        if entry is None:
            problems.append(f"{where}: {msgid!r} is missing from the .po")
        elif entry.fuzzy:
            problems.append(f"{where}: {msgid!r} is fuzzy")
        elif isinstance(msgid, tuple) and ids(entry) != list(msgid):
            problems.append(f"{where}: {msgid!r} has another plural in the .po")
        elif not all(forms(entry)) or (isinstance(msgid, tuple) and len(forms(entry)) != 2):
            problems.append(f"{where}: {msgid!r} is not translated")
    assert not problems, "Run updater/locale/update_catalog.py and translate:\n" + "\n".join(
        problems
    )


def test_spanish_catalog_header() -> None:
    catalog = spanish()
    assert str(catalog.locale) == "es"
    assert catalog.plural_forms == "nplurals=2; plural=(n != 1);"
    assert not catalog.fuzzy


def test_translations_keep_the_placeholders() -> None:
    problems = []
    for message in spanish():
        if not message.id:
            continue
        sources = ids(message)
        for index, text in enumerate(forms(message)):
            if not text:
                continue
            source = sources[min(index, len(sources) - 1)]
            try:
                same = placeholders(text) == placeholders(source)
            except ValueError as exc:
                same = False
                text = f"{text} ({exc})"
            if not same:
                problems.append(f"{source!r} -> {text!r}")
    assert not problems, "Placeholders differ:\n" + "\n".join(problems)


def test_mo_serves_what_the_po_says() -> None:
    with MO.open("rb") as fileobj:
        compiled = gettext.GNUTranslations(fileobj)
    checked = 0
    for message in spanish():
        if not message.id or message.fuzzy or not all(forms(message)):
            continue
        if message.pluralizable:
            singular, plural = ids(message)
            assert compiled.ngettext(singular, plural, 1) == forms(message)[0]
            assert compiled.ngettext(singular, plural, 2) == forms(message)[1]
        elif message.context:
            found = compiled.pgettext(message.context, ids(message)[0])
            assert found == message.string, (message.context, message.id)
        else:
            assert compiled.gettext(ids(message)[0]) == message.string, message.id
        checked += 1
    assert checked > 0


def test_catalog_files_are_up_to_date() -> None:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--check"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert result.returncode == 0, (
        "The catalog is stale; run .venv/bin/python updater/locale/update_catalog.py\n"
        + result.stdout
        + result.stderr
    )


def test_catalog_check_ignores_the_generator_and_its_line_wrapping(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A new Babel release (another Generated-By, another wrapping) is not a stale catalog."""
    from updater.locale import update_catalog

    files, _missing = update_catalog.planned_files()
    monkeypatch.setattr(babel.messages.catalog, "VERSION", "99.0.0")  # a later Babel writes
    for path, data in files.items():
        catalog = read_mo(io.BytesIO(data)) if path.suffix == ".mo" else read_po(io.BytesIO(data))
        other = io.BytesIO()
        if path.suffix == ".mo":
            write_mo(other, catalog)
            assert b"Generated-By: Babel 99.0.0" in other.getvalue()
        else:
            write_po(other, catalog, width=60, include_lineno=False)
            assert b'"Generated-By: Babel 99.0.0\\n"' in other.getvalue()
        assert other.getvalue() != data
        assert update_catalog.same_content(path.name, data, other.getvalue()), path.name
    # An older or newer Babel may guess format flags differently: only "fuzzy" counts.
    po = files[PO]
    unflagged = po.replace(b"#, python-brace-format\n", b"").replace(b"#, python-format\n", b"")
    assert unflagged != po
    assert update_catalog.same_content("innova.po", po, unflagged)
    fuzzy = po.replace(b'msgid "Quit"', b'#, fuzzy\nmsgid "Quit"', 1)
    assert fuzzy != po
    assert not update_catalog.same_content("innova.po", po, fuzzy)


def test_catalog_check_sees_a_changed_message_translation_or_plural_rule() -> None:
    from updater.locale import update_catalog

    files, _missing = update_catalog.planned_files()
    po_data = files[PO]
    mo_data = files[MO]
    catalog = read_po(io.BytesIO(po_data))
    catalog["Quit"].string = "Cerrar"
    for name, write in (("innova.po", write_po), ("innova.mo", write_mo)):
        changed = io.BytesIO()
        write(changed, catalog)
        assert not update_catalog.same_content(
            name, po_data if name.endswith(".po") else mo_data, changed.getvalue()
        ), name
    plural = po_data.replace(b"plural=(n != 1)", b"plural=(n > 1)")
    assert plural != po_data
    assert not update_catalog.same_content("innova.po", po_data, plural)
    template = files[LOCALE_DIR / "innova.pot"]
    moved = template.replace(b"#: updater/cli/argparse_i18n.py", b"#: updater/cli/main.py", 1)
    assert moved != template
    assert not update_catalog.same_content("innova.pot", template, moved)


def test_catalog_files_name_the_script_not_the_babel_version() -> None:
    for path in (PO, LOCALE_DIR / "innova.pot"):
        header = path.read_text("utf-8").split("\n\n", 1)[0]
        assert '"Generated-By: updater/locale/update_catalog.py\\n"' in header, path


# ------------------------------------------------------------------ choosing the language


def test_set_language_switches_messages() -> None:
    assert i18n.set_language("es") == "es"
    assert _("Quit") == "Salir"
    assert i18n.ngettext("{n} release", "{n} releases", 3).format(n=3) == "3 versiones"
    assert i18n.set_language("en") == "en"
    assert _("Quit") == "Quit"
    assert i18n.current_language() == "en"


def test_innova_lang_wins(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("LANG", "en_US.UTF-8")
    clean_env.setenv("INNOVA_LANG", "es_ES.UTF-8")
    assert i18n.set_language(None) == "es"
    assert _("Quit") == "Salir"


def test_lang_is_used_without_innova_lang(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("LANG", "es_ES.UTF-8")
    assert i18n.detect_language() == "es"
    assert i18n.set_language(None) == "es"
    assert _("Quit") == "Salir"


def test_language_priority_list(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("LANGUAGE", "fr:es")
    clean_env.setenv("LANG", "fr_FR.UTF-8")
    assert i18n.detect_language() == "es"


def test_c_locale_falls_back_to_english(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("LANG", "C")
    assert i18n.set_language(None) == "en"
    assert _("Quit") == "Quit"


def test_release_cli_speaks_spanish() -> None:
    env = {k: v for k, v in os.environ.items() if k not in LANG_VARS}
    env["INNOVA_LANG"] = "es"
    env["PYTHONIOENCODING"] = "utf-8"
    result = subprocess.run(
        [sys.executable, "-m", "updater.publish.cli", "--help"],
        capture_output=True,
        text=True,
        encoding="utf-8",
        cwd=ROOT,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "firma y publica" in result.stdout
    assert "Build, sign and publish" not in result.stdout


def test_argparse_messages_follow_the_updater_language() -> None:
    """Usage errors and help headings of the console tools are in Spanish too."""
    result = subprocess.run(
        [sys.executable, "-m", "updater.publish.cli", "add", "somewhere"],
        capture_output=True,
        text=True,
        env={**os.environ, "INNOVA_LANG": "es"},
        timeout=60,
    )
    assert result.returncode == 2
    assert "uso: innova-release" in result.stderr
    assert "faltan estos argumentos obligatorios: --product" in result.stderr
