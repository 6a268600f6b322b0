"""Indexing archive formats and managing the library, on real Chroma with the real model.

Few and small: the Atom feed (3 entries) and one HTML page, 4 articles in all.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from qa.api import index_paths, list_articles, remove_articles
from qa.cli import main
from qa.engine import default_engine
from qa.errors import ArticleNotFoundError
from qa.filters import Filters
from qa.retrieval import RetrievalParams, search
from tests.test_readers import ATOM, BROKEN, CATEGORIES, PAGES


@pytest.fixture
def env_settings(make_settings, monkeypatch):
    """Settings for the CLI (``main`` reads them from the environment)."""
    settings = make_settings()
    monkeypatch.setenv("QA_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("QA_MODEL_DIR", str(settings.model_dir))
    monkeypatch.setenv("QA_GENERATOR", "extractive")
    return settings


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    folder = tmp_path / "archiv"
    folder.mkdir()
    shutil.copy(ATOM, folder / ATOM.name)
    shutil.copy(PAGES[0], folder / PAGES[0].name)
    shutil.copy(BROKEN / "startseite-ohne-artikel.html", folder / "startseite.html")
    return folder


def test_cli_indexes_feeds_and_pages_exit_3_then_reindex_is_a_no_op(
    env_settings, archive: Path, capsys
) -> None:
    code = main(["index", "-q", str(archive)])
    out, err = capsys.readouterr()
    assert code == 3, err
    assert "4 added, 0 updated, 0 unchanged, 0 removed, 1 failed" in out
    assert "startseite.html: no article found in the page" in err

    again = index_paths([archive], settings=env_settings)
    assert (again.added, again.updated, again.unchanged, again.failed) == (0, 0, 4, 1)
    assert again.embedded_chunks == 0

    index = default_engine(env_settings).index()
    manifest = index.store.manifest()
    assert {e.source for e in manifest.values()} == {"nordsee-kurier-kueste", "marlinger-bote"}
    assert {e.path for e in manifest.values()} == {
        str(archive / ATOM.name),
        str(archive / PAGES[0].name),
    }
    hits = search("Fähre Norderoog dreimal täglich", index=index, k=2)
    assert hits[0].chunk.title == "Fährverbindung nach Norderoog wird ausgebaut"


def test_bad_cli_options_are_one_line_errors(env_settings, archive: Path, capsys) -> None:
    assert main(["index", str(archive), "--map", "headline=title"]) == 1
    assert "unknown field 'headline'" in capsys.readouterr().err
    assert main(["index", str(archive), "--default-date", "gestern"]) == 1
    assert "--default-date: 'gestern' is not a date" in capsys.readouterr().err
    assert main(["index", str(archive), "--source", "Kein Tag"]) == 1
    assert "source tag 'Kein Tag' is not valid" in capsys.readouterr().err


def test_articles_list_and_remove_on_a_real_index(env_settings, archive: Path, capsys) -> None:
    index_paths([archive], settings=env_settings)
    capsys.readouterr()

    assert main(["articles", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [a["title"] for a in listed] == [  # newest first
        "Fährverbindung nach Norderoog wird ausgebaut",
        "Sturmflut: Deich bei Husum hält stand",
        "Krabbenfischer klagen über niedrige Preise",
        "Stadtrat beschließt Radwege-Paket",
    ]
    assert all(a["chunks"] >= 1 for a in listed)
    assert listed[0]["published"] == "2025-05-05T12:30:00+00:00"

    assert [a.title for a in list_articles(env_settings, source="marlinger-bote")] == [
        "Stadtrat beschließt Radwege-Paket"
    ]
    assert len(list_articles(env_settings, since="2025-05-01")) == 2
    assert len(list_articles(env_settings, until="2025-04-29")) == 2  # whole day included
    assert [a.title for a in list_articles(env_settings, search="STURMFLUT")] == [
        "Sturmflut: Deich bei Husum hält stand"
    ]
    assert main(["articles", "list", "--search", "krabben"]) == 0
    out = capsys.readouterr().out
    assert "Krabbenfischer klagen" in out and "Sturmflut" not in out

    target = next(a for a in listed if a["title"].startswith("Sturmflut"))
    index = default_engine(env_settings).index()
    params = RetrievalParams(mode="lexical")
    before = search("Sturmflut Pegel Husum", index=index, k=3, params=params)
    assert before[0].chunk.article_id == target["id"]

    assert main(["articles", "remove", target["id"]]) == 0
    assert target["id"] in capsys.readouterr().out

    remaining = {a.id for a in list_articles(env_settings)}
    assert len(remaining) == 3 and target["id"] not in remaining
    index = default_engine(env_settings).index()
    chunks = list(index.store.iter_chunks())
    assert chunks and all(c.article_id != target["id"] for c in chunks)
    # Gone from the BM25 view and from both kinds of search.
    assert not any(str(cid).startswith(target["id"]) for cid in index.lexical.chunk_ids)
    for mode in ("lexical", "dense", "hybrid"):
        hits = search(
            "Sturmflut Pegel Husum",
            index=index,
            k=5,
            filters=Filters(),
            params=RetrievalParams(mode=mode),
        )
        assert all(h.chunk.article_id != target["id"] for h in hits), mode

    # A second run does not bring it back (its file is still there: indexing adds it).
    report = index_paths([archive / PAGES[0].name], settings=env_settings)
    assert report.unchanged == 1
    assert target["id"] not in {a.id for a in list_articles(env_settings)}


def test_removing_unknown_ids_names_them_and_removes_nothing(
    env_settings, archive: Path, capsys
) -> None:
    index_paths([archive], settings=env_settings)
    known = list_articles(env_settings)[0].id
    with pytest.raises(ArticleNotFoundError) as info:
        remove_articles([known, "0000000000000000", "ffffffffffffffff"], settings=env_settings)
    message = info.value.args[0]
    assert "'0000000000000000', 'ffffffffffffffff'" in message
    assert known not in message
    assert len(list_articles(env_settings)) == 4

    assert main(["articles", "remove", "deadbeefdeadbeef"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: no indexed article has id 'deadbeefdeadbeef'")


def _handler(app, name: str):
    """The Python function behind one of the app's events (by its name)."""
    [fn] = {b.fn for b in app.fns.values() if getattr(b.fn, "__name__", "") == name}
    return fn


def test_ui_library_tab_lists_opens_and_removes(env_settings, archive: Path) -> None:
    from ui.app import create_app
    from ui.library import REMOVAL_DISABLED

    index_paths([archive], settings=env_settings)
    app = create_app(env_settings)
    load, show = _handler(app, "load"), _handler(app, "show")
    confirm, remove = _handler(app, "ask_confirmation"), _handler(app, "remove")

    rows, picker, summary = load("")
    assert summary == "4 articles."
    assert rows[0][0] == "Fährverbindung nach Norderoog wird ausgebaut"
    assert [r[3] for r in rows] == [a.chunks for a in list_articles(env_settings)]
    rows, picker, summary = load("husum")
    assert [r[0] for r in rows] == ["Sturmflut: Deich bei Husum hält stand"]
    target = rows[0][4]
    assert picker["choices"] == [
        ("Sturmflut: Deich bei Husum hält stand (2025-05-03, nordsee-kurier-kueste)", target)
    ]

    view, button = show(target)
    assert view.startswith("### Sturmflut: Deich bei Husum hält stand")
    assert button["interactive"] is True
    row, question = confirm(target)
    assert row["visible"] is True and target in question

    hidden, rows, picker, message, cleared = remove(target, "")
    assert hidden["visible"] is False
    assert message.startswith("Removed “Sturmflut: Deich bei Husum hält stand”")
    assert len(rows) == 3 and target not in [r[4] for r in rows]
    assert cleared == ""
    assert target not in {a.id for a in list_articles(env_settings)}

    # Served beyond loopback without a login: removal is refused, even through the handler.
    open_app = create_app(env_settings.with_(ui_host="0.0.0.0"))
    victim = list_articles(env_settings)[0].id
    assert _handler(open_app, "show")(victim)[1]["interactive"] is False
    assert _handler(open_app, "remove")(victim, "")[3] == REMOVAL_DISABLED
    assert len(list_articles(env_settings)) == 3
    authed = create_app(env_settings.with_(ui_host="0.0.0.0", ui_auth="redaktion:geheim"))
    assert _handler(authed, "remove")(victim, "")[3].startswith("Removed")


def test_ui_upload_takes_feeds_pages_and_exports_with_per_item_rows(
    env_settings, tmp_path: Path
) -> None:
    from ui.app import UPLOAD_TYPES, create_app

    assert {".xml", ".rss", ".atom", ".html", ".htm", ".csv", ".jsonl", ".txt"} <= set(UPLOAD_TYPES)
    uploads = tmp_path / "uploads"
    uploads.mkdir()
    for source in (ATOM, BROKEN / "kaputte-zeilen.jsonl"):
        shutil.copy(source, uploads / source.name)
    (uploads / "notiz.pdf").write_bytes(b"%PDF-1.4\n")
    app = create_app(env_settings)
    rows, summary, _status, _sources = _handler(app, "index_files")(
        [str(p) for p in sorted(uploads.iterdir())]
    )
    by_status: dict[str, list[list[str]]] = {}
    for row in rows:
        by_status.setdefault(row[1], []).append(row)
    assert [r[0] for r in by_status["added"]] == ["kaputte-zeilen.jsonl"] * 2 + [ATOM.name] * 3
    failed = {(r[0], r[2].split(":")[0]) for r in by_status["failed"]}
    assert failed == {
        ("kaputte-zeilen.jsonl", "line 2"),
        ("kaputte-zeilen.jsonl", "line 3"),
        ("kaputte-zeilen.jsonl", "line 4"),
        ("kaputte-zeilen.jsonl", "line 5"),
        ("notiz.pdf", "accepted file types"),
    }
    assert summary.startswith("5 added")


def test_cli_format_options_reach_the_reader(env_settings, tmp_path: Path, capsys) -> None:
    export = tmp_path / "kategorien.txt"  # a CSV under another name: --format decides
    shutil.copy(CATEGORIES, export)
    argv = ["index", "-q", str(export), "--format", "csv", "--map", "source=category,body=text"]
    assert main(argv) == 3
    assert "field 'title': column 'title'" in capsys.readouterr().err

    argv += ["--title-from-body", "--default-date", "01.01.2016", "--delimiter", ";"]
    assert main(argv) == 0
    assert "4 added" in capsys.readouterr().out
    listed = list_articles(env_settings)
    assert {a.source for a in listed} == {"politik", "sport", "wirtschaft", "kultur"}
    assert {a.published.isoformat() for a in listed} == {"2016-01-01T00:00:00+00:00"}
    assert main(argv) == 0
    assert "0 added, 0 updated, 4 unchanged" in capsys.readouterr().out
