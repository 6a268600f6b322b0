"""Engine lifetimes on real Chroma in temp dirs, with a deterministic fake embedder.

The fake is registered through :class:`qa.engine.Models`' embedder factory, the
extension point the real e5 model is loaded through, so everything above it (store,
BM25 view, retrieval, evidence, the extractive answer) is the real code.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from qa.api import index_paths
from qa.engine import Engine, Models, default_engine
from qa.retrieval import search
from qa.settings import Settings

DIM = 64

# Articles written for these tests (German news style, invented places and people).
HAFEN = """Neuer Containerkran für den Hafen von Marlingen

1745000000 Neuer Containerkran fuer den Hafen von Marlingen

Der Kran wird am Kai aufgebaut (Archivbild)

Der Hafen von Marlingen hat am Montag einen neuen Containerkran in Betrieb genommen.
Nach Angaben der Hafenverwaltung kann der Kran bis zu 40 Container pro Stunde bewegen.
Die Anschaffung kostete rund zwölf Millionen Euro und wurde vom Land mitfinanziert.

marlinger-bote-wirtschaft
"""

BRUECKE = """Brücke über die Sauer bleibt bis Oktober gesperrt

1745100000 Bruecke ueber die Sauer bleibt bis Oktober gesperrt

Bauarbeiter an der Brücke (Archivbild)

Die Brücke über die Sauer bei Wendtal bleibt nach Angaben des Landkreises bis Oktober gesperrt.
Bei einer Prüfung hatten Ingenieure Risse in zwei Pfeilern gefunden.
Pendler müssen eine Umleitung über Kerstadt nehmen, die rund 15 Minuten länger dauert.

wendtaler-anzeiger-lokales
"""

BIBLIOTHEK = """Stadtbibliothek Kerstadt öffnet künftig auch sonntags

1745200000 Stadtbibliothek Kerstadt oeffnet kuenftig auch sonntags

Lesesaal der Stadtbibliothek (Archivbild)

Die Stadtbibliothek Kerstadt öffnet ab dem ersten Mai auch sonntags von elf bis 17 Uhr.
Bürgermeisterin Hanna Roloff sagte, die Sonntagsöffnung werde zunächst ein Jahr erprobt.
Die zusätzlichen Stunden übernehmen nach Angaben der Stadt ehrenamtliche Helfer.

kerstaedter-rundschau-kultur
"""

CRANE = "Wie viele Container kann der neue Kran im Hafen von Marlingen pro Stunde bewegen?"
LIBRARY = "Wann öffnet die Stadtbibliothek Kerstadt auch sonntags?"


class HashingEmbedder:
    """Bag of hashed word stems: the same text always gives the same unit vector.

    Texts that share words are close, so retrieval over it finds the article a
    question's words come from. Counts its calls so tests can see what was embedded.
    """

    identity = "fake-hashing@sha256:0000000000000000"
    dim = DIM

    def __init__(self) -> None:
        self.query_calls: list[list[str]] = []
        self.passage_calls = 0

    @staticmethod
    def vector(text: str) -> np.ndarray:
        v = np.zeros(DIM, np.float32)
        for word in re.findall(r"\w+", text.lower()):
            digest = hashlib.sha256(word[:6].encode()).digest()
            v[digest[0] % DIM] += 1.0
        v[DIM - 1] += 0.01  # never the zero vector
        return v / np.linalg.norm(v)

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        self.passage_calls += 1
        return np.stack([self.vector(t) for t in texts]) if texts else np.zeros((0, DIM))

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        self.query_calls.append(list(texts))
        return np.stack([self.vector(t) for t in texts])


class CountingFactory:
    """An embedder factory that records every embedder it builds."""

    def __init__(self) -> None:
        self.built: list[HashingEmbedder] = []

    def __call__(self, settings: Settings) -> HashingEmbedder:
        self.built.append(HashingEmbedder())
        return self.built[-1]


def write(folder: Path, **articles: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in articles.items():
        (folder / f"{name}.txt").write_text(text, encoding="utf-8")
    return folder


def settings_in(tmp_path: Path, name: str) -> Settings:
    return Settings(data_dir=tmp_path / name, model_dir=tmp_path / "models", generator="extractive")


def test_two_engines_with_different_settings_share_no_cache(tmp_path: Path) -> None:
    factory_a, factory_b = CountingFactory(), CountingFactory()
    a = Engine(settings_in(tmp_path, "a"), models=Models(embedder_factory=factory_a))
    b = Engine(settings_in(tmp_path, "b"), models=Models(embedder_factory=factory_b))
    with a, b:
        index_paths([write(tmp_path / "ca", hafen=HAFEN)], settings=a.settings, engine=a)
        index_paths([write(tmp_path / "cb", bibliothek=BIBLIOTHEK)], settings=b.settings, engine=b)

        answer_a = a.ask(CRANE)
        answer_b = b.ask(CRANE)
        # Each answers from its own index only.
        assert {c.title for c in answer_a.citations} <= {HAFEN.splitlines()[0]}
        assert answer_a.chunks and all("Marlingen" in h.chunk.title for h in answer_a.chunks)
        assert answer_b.chunks and all("Kerstadt" in h.chunk.title for h in answer_b.chunks)

        ia, ib = a.index(), b.index()
        assert ia.store is not ib.store and ia.lexical is not ib.lexical
        assert a.embedder() is factory_a.built[0] and b.embedder() is factory_b.built[0]
        assert ia.queries is not ib.queries and ia.sentences is not ib.sentences
        # One load per engine, and each engine's question went through its own model.
        assert len(factory_a.built) == len(factory_b.built) == 1
        assert [CRANE] in factory_a.built[0].query_calls
        assert [CRANE] in factory_b.built[0].query_calls


def test_query_cache_is_per_engine(tmp_path: Path) -> None:
    factory = CountingFactory()
    shared = Models(embedder_factory=factory)  # one embedder, two engines on one index
    settings = settings_in(tmp_path, "data")
    index_paths(
        [write(tmp_path / "c", hafen=HAFEN, bruecke=BRUECKE)],
        settings=settings,
        engine=Engine(settings, models=shared),
    )
    (embedder,) = factory.built
    first, second = Engine(settings, models=shared), Engine(settings, models=shared)

    def embedded(question: str) -> int:
        return sum(call == [question] for call in embedder.query_calls)

    first.ask(CRANE)
    assert embedded(CRANE) == 1  # retrieval and evidence scoring share one vector
    first.ask(CRANE)
    assert embedded(CRANE) == 1  # cached by this engine
    second.ask(CRANE)
    assert embedded(CRANE) == 2  # the other engine has its own cache
    assert len(first.index().queries) == len(second.index().queries) == 1
    first.clear_caches()
    assert len(first.index().queries) == 0 and len(second.index().queries) == 1
    first.ask(CRANE)
    assert embedded(CRANE) == 3


def test_close_releases_model_and_store_and_a_later_call_reopens(tmp_path: Path) -> None:
    factory = CountingFactory()
    # As Engine(settings) owns the models it makes, this one owns the fake's.
    models = Models(embedder_factory=factory)
    engine = Engine(settings_in(tmp_path, "data"), models=models, owns_models=True)

    index_paths([write(tmp_path / "c", hafen=HAFEN)], settings=engine.settings, engine=engine)
    before = engine.ask(CRANE)
    index = engine.index()
    pool = engine.models.local_models()
    assert len(factory.built) == 1

    engine.close()
    # The model, the local-LLM pool, the store handle and the caches are gone ...
    assert engine.models.local_models() is not pool
    reopened = engine.index()
    assert len(factory.built) == 2 and reopened.embedder is factory.built[1]
    assert reopened is not index and reopened.store is not index.store
    assert len(reopened.queries) == 0 and len(reopened.sentences) == 0
    # ... and the engine answers as before.
    after = engine.ask(CRANE)
    assert after.text == before.text
    assert [h.chunk.id for h in after.chunks] == [h.chunk.id for h in before.chunks]


def test_shared_models_survive_an_engine_close(tmp_path: Path) -> None:
    factory = CountingFactory()
    shared = Models(embedder_factory=factory)
    settings = settings_in(tmp_path, "data")
    with Engine(settings, models=shared) as engine:
        index_paths([write(tmp_path / "c", hafen=HAFEN)], settings=settings, engine=engine)
        engine.ask(CRANE)
    # Closed: its index is dropped, but the models belong to whoever made them.
    assert Engine(settings, models=shared).embedder() is factory.built[0]
    shared.close()
    assert Engine(settings, models=shared).embedder() is factory.built[1]


def test_reindexing_and_invalidate_make_a_new_chunk_visible(tmp_path: Path) -> None:
    settings = settings_in(tmp_path, "data")
    models = Models(embedder_factory=lambda _s: HashingEmbedder())
    engine = Engine(settings, models=models)
    corpus = write(tmp_path / "c", hafen=HAFEN)
    index_paths([corpus], settings=settings, engine=engine)
    old = engine.index()
    assert not any("Kerstadt" in c.title for c in old.store.iter_chunks())

    # Another writer (its own engine, as `qa index` in another process) adds an article.
    write(corpus, bibliothek=BIBLIOTHEK)
    report = index_paths([corpus], settings=settings, engine=Engine(settings, models=models))
    assert report.added == 1
    engine.invalidate()
    fresh = engine.index()
    assert fresh is not old
    hits = search(LIBRARY, index=fresh, k=3)
    assert hits and "Kerstadt" in hits[0].chunk.title
    assert "Kerstadt" in engine.ask(LIBRARY).chunks[0].chunk.title

    # A rebuild through the engine drops its handle itself.
    (corpus / "hafen.txt").unlink()
    index_paths([corpus], settings=settings, engine=engine, rebuild=True)
    rebuilt = engine.index()
    assert rebuilt is not fresh
    assert {c.title for c in rebuilt.store.iter_chunks()} == {BIBLIOTHEK.splitlines()[0]}


def test_per_call_settings_must_name_the_engines_index(tmp_path: Path) -> None:
    settings = settings_in(tmp_path, "data")
    engine = Engine(settings, models=Models(embedder_factory=lambda _s: HashingEmbedder()))
    index_paths([write(tmp_path / "c", hafen=HAFEN)], settings=settings, engine=engine)
    # Answer settings may differ per call (the UI's mode switch, eval's BM25 baseline) ...
    narrow = engine.ask(CRANE, settings=settings.with_(top_k=1, rerank=False))
    assert len(narrow.chunks) == 1
    # ... another index may not.
    with pytest.raises(ValueError, match="data_dir"):
        engine.ask(CRANE, settings=settings_in(tmp_path, "elsewhere"))


def test_default_engine_is_one_per_index(tmp_path: Path) -> None:
    settings = settings_in(tmp_path, "data")
    engine = default_engine(settings)
    assert default_engine(settings.with_(generator="llm", top_k=2)) is engine
    assert default_engine(settings_in(tmp_path, "other")) is not engine
    # The default engines share one set of loaded models.
    assert default_engine(settings_in(tmp_path, "other")).models is engine.models
