"""ShoalVectorStore beyond the standard suite: ids, deletes, filters, scores, MMR, reopening."""

from __future__ import annotations

import math
from pathlib import Path
from uuid import uuid4

import numpy as np
import pytest
from langchain_core.documents import Document
from langchain_core.embeddings import DeterministicFakeEmbedding, Embeddings
from langchain_core.indexing import InMemoryRecordManager, index

import shoal
from shoal.errors import (
    ConfigurationError,
    EmbedderMismatch,
    InvalidInput,
    UnknownFieldWarning,
)
from shoal.integrations.langchain import (
    LangChainEmbedder,
    ShoalEmbeddings,
    ShoalVectorStore,
    as_shoal_embedder,
)


class TableEmbeddings(Embeddings):
    """Fixed vectors for known texts, so tests can plant exact geometry."""

    def __init__(self, table: dict[str, list[float]]) -> None:
        self.table = table
        self.calls = 0

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        self.calls += 1
        return [self._vector(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        self.calls += 1
        return self._vector(text)

    def _vector(self, text: str) -> list[float]:
        size = len(next(iter(self.table.values())))
        return self.table.get(text, [1.0] * size)  # the size probe gets a plain vector


def memory_store(embedding: Embeddings | None = None, **options: object) -> ShoalVectorStore:
    return ShoalVectorStore(
        dataset_path=f"memory://lc-{uuid4().hex}",
        embedding_function=embedding or ShoalEmbeddings("hash:64"),
        **options,  # type: ignore[arg-type]
    )


def test_documents_without_ids_get_content_hashes_and_adding_again_writes_nothing() -> None:
    store = memory_store()
    docs = [Document("alpha", metadata={"n": 1}), Document("beta", metadata={"n": 2})]
    first = store.add_documents(docs)
    version = store.dataset.version
    again = store.add_documents(docs)
    assert (
        first
        == again
        == [shoal.store.row_id("alpha", {"n": 1}), shoal.store.row_id("beta", {"n": 2})]
    )
    assert store.dataset.version == version  # nothing written
    assert len(store.dataset) == 2


def test_document_ids_are_honoured_and_the_missing_ones_generated() -> None:
    store = memory_store()
    ids = store.add_documents([Document("alpha", id="a"), Document("beta")])
    assert ids == ["a", shoal.store.row_id("beta", {})]
    assert [d.page_content for d in store.get_by_ids(["a", ids[1], "nope"])] == ["alpha", "beta"]


def test_an_explicit_id_replaces_text_metadata_and_vector() -> None:
    store = memory_store()
    store.add_texts(["old text"], [{"v": 1}], ids=["x"])
    store.add_texts(["new text entirely"], [{"v": 2}], ids=["x"])
    [doc] = store.get_by_ids(["x"])
    assert (doc.page_content, doc.metadata) == ("new text entirely", {"v": 2})
    [(found, score)] = store.similarity_search_with_score("new text entirely", k=1)
    assert found.id == "x" and score == pytest.approx(1.0, abs=1e-5)


def test_batch_size_writes_one_version_per_batch() -> None:
    store = memory_store()
    start = store.dataset.version
    store.add_texts([f"text number {i}" for i in range(5)], batch_size=2)
    assert store.dataset.version == start + 3
    with pytest.raises(InvalidInput, match="batch_size"):
        store.add_texts(["x"], batch_size=0)


def test_mismatched_lengths_and_unknown_options_are_refused() -> None:
    store = memory_store()
    with pytest.raises(InvalidInput, match="2 ids for 1 texts"):
        store.add_texts(["a"], ids=["1", "2"])
    with pytest.raises(InvalidInput, match="2 metadatas for 1 texts"):
        store.add_texts(["a"], [{}, {}])
    with pytest.raises(InvalidInput, match="unexpected options \\['colour'\\]"):
        store.similarity_search("a", colour="red")
    assert len(store.dataset) == 0


def test_delete_needs_ids_a_filter_or_delete_all() -> None:
    store = memory_store()
    store.add_texts(["a1", "a2", "b1"], [{"g": "a"}, {"g": "a"}, {"g": "b"}], ids=["1", "2", "3"])
    with pytest.raises(InvalidInput, match="exactly one of"):
        store.delete()
    assert store.delete(filter={"g": "a"}) is True
    assert [d.id for d in store.get_by_ids(["1", "2", "3"])] == ["3"]
    assert store.delete(ids=[]) is True
    store.delete(delete_all=True)
    assert len(store.dataset) == 0


def test_filters_name_metadata_even_keys_called_id_or_text() -> None:
    store = memory_store()
    store.add_texts(
        ["foo", "bar", "baz"],
        [{"id": 1, "text": "x"}, {"id": 2, "text": "y"}, {"id": 3, "text": "y"}],
    )
    assert [d.page_content for d in store.similarity_search("foo", k=3, filter={"id": 2})] == [
        "bar"
    ]
    found = store.similarity_search(
        "foo", k=3, filter={"$and": [{"text": "y"}, {"id": {"$gte": 3}}]}
    )
    assert [d.page_content for d in found] == ["baz"]
    assert (
        store.similarity_search("foo", k=3, where={"id": {"$in": [1, 3]}})[0].page_content == "foo"
    )
    with pytest.warns(UnknownFieldWarning, match="unknown field 'colour'"):
        assert store.similarity_search("foo", filter={"colour": "red"}) == []


def test_keyword_and_hybrid_modes_pass_through_and_vector_only_paths_refuse_them() -> None:
    store = memory_store()
    store.add_texts(["the quick brown fox", "a slow green turtle"])
    [(doc, score)] = store.similarity_search_with_score("turtle", k=1, mode="keyword")
    assert doc.page_content == "a slow green turtle" and score > 0
    assert (
        store.similarity_search("fox", k=1, mode="hybrid")[0].page_content == "the quick brown fox"
    )
    with pytest.raises(InvalidInput, match="needs a text query"):
        store.similarity_search_by_vector([0.1] * 64, mode="keyword")
    with pytest.raises(InvalidInput, match="relevance scores come from vector"):
        store.similarity_search_with_relevance_scores("fox", mode="hybrid")


def test_relevance_scores_are_the_clipped_cosine_in_unit_range() -> None:
    table = {"q": [1.0, 0.0], "same": [2.0, 0.0], "diag": [1.0, 1.0], "opposite": [-1.0, 0.0]}
    store = memory_store(TableEmbeddings(table))
    store.add_texts(["same", "diag", "opposite"])
    scored = dict(
        (d.page_content, s) for d, s in store.similarity_search_with_relevance_scores("q", k=3)
    )
    assert scored == pytest.approx({"same": 1.0, "diag": math.sqrt(0.5), "opposite": 0.0})
    retriever = store.as_retriever(
        search_type="similarity_score_threshold", search_kwargs={"score_threshold": 0.5, "k": 3}
    )
    assert [d.page_content for d in retriever.invoke("q")] == ["same", "diag"]


@pytest.mark.parametrize(
    ("metric", "expected"),
    [
        ("l2", {"near": 1 / (1 + 1.0), "far": 1 / (1 + 3.0)}),
        ("dot", {"near": 1 / (1 + math.exp(-2.0)), "far": 1 / (1 + math.exp(-4.0))}),
    ],
)
def test_relevance_for_l2_and_dot_is_monotone_and_in_unit_range(
    metric: str, expected: dict[str, float]
) -> None:
    table = {"q": [1.0, 0.0], "near": [2.0, 0.0], "far": [4.0, 0.0]}
    store = memory_store(TableEmbeddings(table), distance_metric=metric)
    assert store.dataset.spec.metric == metric
    store.add_texts(["near", "far"])
    scored = dict(
        (d.page_content, s) for d, s in store.similarity_search_with_relevance_scores("q", k=2)
    )
    assert scored == pytest.approx(expected)
    assert all(0.0 <= s <= 1.0 for s in scored.values())


def test_mmr_prefers_a_different_document_over_a_near_copy() -> None:
    table = {
        "q": [1.0, 0.0, 0.0],
        "best": [1.0, 0.05, 0.0],
        "copy of best": [1.0, 0.06, 0.0],
        "other angle": [0.7, 0.0, 0.7],
    }
    store = memory_store(TableEmbeddings(table))
    store.add_texts(["best", "copy of best", "other angle"])
    plain = [d.page_content for d in store.similarity_search("q", k=2)]
    diverse = [d.page_content for d in store.max_marginal_relevance_search("q", k=2, fetch_k=3)]
    by_vector = store.max_marginal_relevance_search_by_vector([1.0, 0.0, 0.0], k=2, fetch_k=3)
    assert plain == ["best", "copy of best"]
    assert diverse == ["best", "other angle"] == [d.page_content for d in by_vector]
    with pytest.raises(InvalidInput, match="fetch_k"):
        store.max_marginal_relevance_search("q", k=3, fetch_k=2)


def test_search_by_vector_uses_the_stored_vectors() -> None:
    store = memory_store(TableEmbeddings({"a": [1.0, 0.0], "b": [0.0, 1.0]}))
    store.add_texts(["a", "b"])
    [(doc, score)] = store.similarity_search_with_score_by_vector([0.1, 0.9], k=1)
    assert doc.page_content == "b" and score == pytest.approx(0.9 / math.hypot(0.1, 0.9))
    with pytest.raises(InvalidInput, match="dimension"):
        store.similarity_search_by_vector([1.0, 0.0, 0.0])


def test_reopening_needs_the_same_embeddings(tmp_path: Path) -> None:
    path = tmp_path / "kb"
    fake = DeterministicFakeEmbedding(size=8)
    ShoalVectorStore(dataset_path=path, embedding_function=fake).add_texts(["kept"])
    again = ShoalVectorStore(
        dataset_path=path, embedding_function=DeterministicFakeEmbedding(size=8)
    )
    assert again.similarity_search("kept", k=1)[0].page_content == "kept"
    with pytest.raises(EmbedderMismatch, match="DeterministicFakeEmbedding"):
        ShoalVectorStore(dataset_path=path, embedding_function=ShoalEmbeddings("hash:8"))
    with pytest.raises(ConfigurationError, match="pass embedding_function= with the same one"):
        ShoalVectorStore(dataset_path=path)


def test_an_existing_dataset_is_not_probed_for_its_vector_size(tmp_path: Path) -> None:
    table = TableEmbeddings({"a": [1.0, 0.0], "q": [1.0, 0.0]})
    ShoalVectorStore(dataset_path=tmp_path / "kb", embedding_function=table).add_texts(["a"])
    reopened = TableEmbeddings({"q": [1.0, 0.0]})
    store = ShoalVectorStore(dataset_path=tmp_path / "kb", embedding_function=reopened)
    assert reopened.calls == 0
    assert store.similarity_search("q", k=1)[0].page_content == "a"


def test_constructor_errors_say_what_to_pass(tmp_path: Path) -> None:
    fake = DeterministicFakeEmbedding(size=4)
    with pytest.raises(ConfigurationError, match="not both"):
        ShoalVectorStore(dataset_path=tmp_path, embedding_function=fake, embedding=fake)
    with pytest.raises(ConfigurationError, match="dataset_path="):
        ShoalVectorStore(embedding_function=fake)
    with pytest.raises(ConfigurationError, match="distance_metric 'manhattan'"):
        ShoalVectorStore(dataset_path=tmp_path / "x", embedding=fake, distance_metric="manhattan")
    dataset = shoal.open(f"memory://{uuid4().hex}", embedder="hash:16")
    with pytest.raises(ConfigurationError, match="made by hash:16"):
        ShoalVectorStore(dataset=dataset, embedding_function=fake)
    store = ShoalVectorStore(dataset=dataset, embedding_function=ShoalEmbeddings("hash:16"))
    assert store.dataset is dataset


def test_a_store_without_embeddings_uses_the_datasets_own_embedder(tmp_path: Path) -> None:
    shoal.open(tmp_path / "kb", embedder="hash:32").add(["from shoal"], ids=["s"])
    store = ShoalVectorStore(dataset_path=tmp_path / "kb")
    assert isinstance(store.embeddings, ShoalEmbeddings)
    assert store.embeddings.model == "hash:32"
    assert store.similarity_search("from shoal", k=1)[0].id == "s"


def test_from_texts_and_from_documents() -> None:
    fake = DeterministicFakeEmbedding(size=8)
    store = ShoalVectorStore.from_texts(["one", "two"], fake, [{"n": 1}, {"n": 2}], ids=["1", "2"])
    assert store.dataset.uri.startswith("memory://langchain-")
    assert [d.id for d in store.similarity_search("two", k=1)] == ["2"]
    docs = [Document("three", id="3")]
    other = ShoalVectorStore.from_documents(docs, fake, dataset_path=f"memory://{uuid4().hex}")
    assert other.get_by_ids(["3"])[0].page_content == "three"


def test_langchain_embedder_checks_what_the_embeddings_return() -> None:
    class Broken(Embeddings):
        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            return [[1.0, 2.0]]  # one vector for any number of texts

        def embed_query(self, text: str) -> list[float]:
            return [1.0, 2.0]

    adapter = LangChainEmbedder(Broken())
    assert adapter.spec.dimensions == 2
    with pytest.raises(shoal.EmbeddingError, match="shape \\(1, 2\\) for 3 texts"):
        adapter.embed_documents(["a", "b", "c"])
    with pytest.raises(ConfigurationError, match="LangChain Embeddings"):
        LangChainEmbedder("not embeddings")  # type: ignore[arg-type]


def test_model_names_go_into_the_spec_and_shoal_embeddings_unwrap() -> None:
    class Named(DeterministicFakeEmbedding):
        model: str = "fake-model-v2"

    spec = as_shoal_embedder(Named(size=4)).spec
    assert spec.provider == "langchain"
    assert spec.model.endswith("Named/fake-model-v2")
    inner = shoal.embedder("hash:8")
    assert as_shoal_embedder(ShoalEmbeddings(inner)) is inner
    with pytest.raises(ConfigurationError, match="options go with a model name"):
        ShoalEmbeddings(inner, dims=3)
    assert np.allclose(ShoalEmbeddings(inner).embed_query("x"), inner.embed_query("x"))


def test_langchains_indexing_api_skips_unchanged_documents_and_cleans_up() -> None:
    store = memory_store()
    manager = InMemoryRecordManager(namespace="shoal")
    manager.create_schema()
    docs = [
        Document("a cat", metadata={"source": "a.txt"}),
        Document("a dog", metadata={"source": "b.txt"}),
    ]
    first = index(docs, manager, store, cleanup="full", source_id_key="source")
    again = index(docs, manager, store, cleanup="full", source_id_key="source")
    shrunk = index(docs[:1], manager, store, cleanup="full", source_id_key="source")
    assert (first["num_added"], again["num_skipped"], shrunk["num_deleted"]) == (2, 2, 1)
    assert [d.page_content for d in store.similarity_search("a cat", k=5)] == ["a cat"]


async def test_async_twins_work_in_a_running_loop() -> None:
    store = memory_store()
    ids = await store.aadd_documents([Document("async one", id="1"), Document("async two")])
    assert ids[0] == "1"
    assert (await store.asimilarity_search("async two", k=1))[0].id == ids[1]
    assert [d.id for d in await store.aget_by_ids(["1"])] == ["1"]
    diverse = await store.amax_marginal_relevance_search("async one", k=1, fetch_k=2)
    assert diverse[0].id == "1"
    await store.adelete(["1"])
    assert await store.aget_by_ids(["1"]) == []
