"""What only the Chroma store has: a user's own collections read as they are, namespaces and collections,
Chroma's quirks turned into the store's guarantees (a write replaces a record, listing survives deletions,
cosine kept exact), refusals, options, an unreachable server, and no writes to a source."""

from __future__ import annotations

import pickle
import re
import subprocess
import sys
from typing import Any

import numpy as np
import pytest

from pinecone_migrator.errors import RecordsRejected, RemoteError, UserError
from pinecone_migrator.records import Record, SparseValues
from pinecone_migrator.stores import fidelity
from pinecone_migrator.stores.base import DEFAULT_NAMESPACE, IndexShape, StoreDescription
from pinecone_migrator.stores.chroma import open_uri
from pinecone_migrator.stores.chroma.naming import collection_name, valid_collection_name
from pinecone_migrator.stores.chroma.store import ChromaStore
from pinecone_migrator.stores.uri import parse

from .server import ChromaServer

DOT = IndexShape("dense", "dotproduct", 4)


def _store(uri: str, side: str = "target") -> ChromaStore:
    return open_uri(parse(uri, side=side))  # type: ignore[arg-type]


def _made(server: ChromaServer, shape: IndexShape = DOT, namespaces: tuple[str, ...] = ()) -> ChromaStore:
    store = _store(server.uri())
    store.create_like(StoreDescription("src", shape, dict.fromkeys(namespaces, 1)))
    return store


def _client(server: ChromaServer, database: str) -> Any:
    import chromadb
    from chromadb.config import Settings

    admin = chromadb.AdminClient(
        Settings(
            chroma_api_impl="chromadb.api.fastapi.FastAPI",
            chroma_server_host=server.host,
            chroma_server_http_port=server.port,
            anonymized_telemetry=False,
        )
    )
    admin.create_database(database)
    return chromadb.HttpClient(
        host=server.host, port=server.port, database=database, settings=Settings(anonymized_telemetry=False)
    )


def _vector(*values: float) -> np.ndarray:
    return np.array(values, dtype=np.float32)


def _everything(store: ChromaStore, namespace: str) -> dict[str, Record]:
    ids: list[str] = []
    cursor = None
    while True:
        page = store.list_ids(namespace, cursor=cursor, limit=3)
        ids += page.ids
        if (cursor := page.cursor) is None:
            return {record.id: record for record in store.fetch(namespace, ids)}


def test_a_users_own_collections_read_as_they_are(chroma_server: ChromaServer) -> None:
    database = chroma_server.new_database("users")
    client = _client(chroma_server, database)
    articles = client.create_collection("articles", embedding_function=None)  # Chroma's default space: l2
    articles.add(
        ids=["é-1", "x" * 600],
        embeddings=[[0.5, -0.0, 1.4e-45, 3.0], [1, 2, 3, 4]],
        documents=["the text", None],
        metadatas=[{"n": 3, "ratio": 0.1, "flag": False, "tags": ["b", "a", "b"], "ints": [1, 2]}, None],
    )
    client.create_collection("notes", embedding_function=None).add(ids=["n1"], embeddings=[[0, 0, 0, 1]])
    store = _store(chroma_server.uri(database), side="source")

    description = store.describe()
    assert description.shape == IndexShape("dense", "euclidean", 4)
    assert description.namespace_counts == {"articles": 2, "notes": 1}
    written = {"n": 3, "ratio": 0.1, "flag": False, "tags": ["b", "a", "b"], "ints": [1, 2]}
    assert _everything(store, "articles") == {
        "é-1": Record("é-1", _vector(0.5, -0.0, 1.4e-45, 3.0), metadata={**written, "document": "the text"}),
        "x" * 600: Record("x" * 600, _vector(1, 2, 3, 4)),
    }
    fetched = store.fetch("articles", ["é-1"])[0]
    assert fetched.values is not None and fetched.values.tobytes() == _vector(0.5, -0.0, 1.4e-45, 3).tobytes()
    pinned = _store(chroma_server.uri(database, collection="notes"), side="source")
    assert pinned.describe().namespace_counts == {DEFAULT_NAMESPACE: 1}
    assert _store(chroma_server.uri(database, prefix="art"), side="source").describe().namespace_counts == {
        "icles": 2
    }
    ignoring = _store(chroma_server.uri(database, document_key=""), side="source")
    assert "document" not in ignoring.fetch("articles", ["é-1"])[0].metadata


def test_collections_that_differ_in_shape_are_named_in_the_refusal(chroma_server: ChromaServer) -> None:
    database = chroma_server.new_database("mixed")
    client = _client(chroma_server, database)
    client.create_collection("small", embedding_function=None).add(ids=["a"], embeddings=[[1, 2]])
    client.create_collection("wide", embedding_function=None).add(ids=["a"], embeddings=[[1, 2, 3]])
    with pytest.raises(UserError, match=r"small \(euclidean, dimension 2\), wide \(euclidean, dimension 3\)"):
        _store(chroma_server.uri(database), side="source").describe()


def test_namespaces_any_name_map_to_collections_and_back(chroma_server: ChromaServer) -> None:
    names = [DEFAULT_NAMESPACE, "tenant b/2", "ab", "Ünï", "a..b", "plain-name"]
    for name in names:
        assert valid_collection_name(collection_name(name, "p-"))
    assert collection_name("plain-name", "") == "plain-name"  # readable where Chroma allows it
    assert len({collection_name(name, "") for name in names}) == len(names)
    store = _made(chroma_server, namespaces=(DEFAULT_NAMESPACE,))
    for n, name in enumerate(names):
        store.write(name, [Record(f"id{n}", _vector(1, 0, 0, n))])
    again = _store(store.address.text, side="source")  # a new process would see the same
    assert again.describe().namespace_counts == dict.fromkeys(names, 1)
    assert again.fetch("tenant b/2", ["id1"]) == [Record("id1", _vector(1, 0, 0, 1))]


def test_a_write_replaces_the_whole_record(chroma_server: ChromaServer) -> None:
    store = _made(chroma_server)
    first = Record("r", _vector(1, 2, 3, 4), metadata={"old": "key", "document": "old text", "n": 1})
    second = Record("s", _vector(1, 2, 3, 4), metadata={"document": "kept", "gone": True})
    store.write("ns", [first, second])
    replaced = [Record("r", _vector(4, 3, 2, 1), metadata={"n": 2}), Record("s", _vector(0, 0, 0, 1))]
    store.write("ns", replaced)
    assert sorted(store.fetch("ns", ["r", "s"]), key=lambda r: r.id) == replaced


def test_metadata_numbers_keep_their_values_and_types(chroma_server: ChromaServer) -> None:
    store = _made(chroma_server)
    metadata = {"int": 3, "fraction": 0.1, "large": 2.0**53 + 2, "long": 2**62, "yes": True, "no": False}
    store.write("ns", [Record("m", _vector(1, 2, 3, 4), metadata=metadata)])  # type: ignore[arg-type]
    read = store.fetch("ns", ["m"])[0].metadata
    assert read == metadata
    assert type(read["int"]) is int and read["yes"] is True and read["no"] is False
    assert read["fraction"] == 0.1 and read["large"] == 2.0**53 + 2


def test_a_number_chroma_would_change_is_refused_not_kept_changed(chroma_server: ChromaServer) -> None:
    """Chroma reads some floats of 16-17 digits one unit off: such a record is refused, named, not kept."""
    store = _made(chroma_server)
    kept = Record("kept", _vector(1, 2, 3, 4), metadata={"n": 0.5})
    changed = Record("changed", _vector(1, 2, 3, 4), metadata={"n": -943305.0469559873})
    with pytest.raises(
        RecordsRejected, match=r"'changed': Chroma keeps metadata 'n' = -943305.0469559873 as"
    ):
        store.write("ns", [kept, changed])
    assert store.fetch("ns", ["changed"]) == []
    with pytest.raises(RecordsRejected, match=r"'huge': Chroma keeps metadata 'n' = 1\.1805916207174113e"):
        store.write("ns", [Record("huge", _vector(1, 2, 3, 4), metadata={"n": 2**70})])  # sent as a float
    assert sorted(r.id for r in store.fetch("ns", ["kept", "changed", "huge"])) == ["kept"]


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        (Record("e", _vector(1, 2, 3, 4), metadata={"tags": []}), "empty list in metadata 'tags'"),
        (Record("k", _vector(1, 2, 3, 4), metadata={"#type": "x"}), "reserves metadata key '#type'"),
        (Record("c", _vector(1, 2, 3, 4), metadata={"chroma:x": 1.0}), "reserves metadata key 'chroma:x'"),
        (Record("s", _vector(1, 2, 3, 4), sparse=SparseValues([1], [0.5])), "holds no sparse values"),
        (Record("d", _vector(1, 2, 3)), "dimension 3 does not match the collection's 4"),
    ],
)
def test_what_chroma_cannot_hold_is_refused_and_nothing_of_the_batch_written(
    chroma_server: ChromaServer, record: Record, reason: str
) -> None:
    store = _made(chroma_server, namespaces=("ns",))
    with pytest.raises(RecordsRejected, match=f"record {record.id!r}: .*{reason}"):
        store.write("ns", [Record("fine", _vector(1, 2, 3, 4)), record])
    assert store.fetch("ns", ["fine", record.id]) == []


def test_listing_survives_deletions_before_its_cursor(chroma_server: ChromaServer) -> None:
    store = _made(chroma_server)
    ids = [f"r{n:02d}" for n in range(20)]
    store.write("ns", [Record(i, _vector(1, 2, 3, n)) for n, i in enumerate(ids)])
    first = store.list_ids("ns", limit=8)
    assert first.ids == ids[:8] and first.cursor is not None
    store.delete("ns", ["r01", "r02", "r03"])  # before the cursor: offsets shift
    second = store.list_ids("ns", cursor=first.cursor, limit=8)
    assert second.ids == ids[8:16]
    store.delete("ns", ["r13", "r14", "r15"])  # every ID the cursor is anchored on
    assert second.cursor is not None
    rest = store.list_ids("ns", cursor=second.cursor, limit=8)
    assert rest.ids == ids[16:] and rest.cursor is None


def test_prefix_listing_pages_over_chroma_order(chroma_server: ChromaServer) -> None:
    store = _made(chroma_server)
    ids = [f"{'ab' if n % 3 else 'x'}{n:03d}" for n in range(30)]
    store.write("ns", [Record(i, _vector(1, 2, 3, n)) for n, i in enumerate(ids)])
    pages, cursor = [], None
    while True:
        page = store.list_ids("ns", prefix="ab", cursor=cursor, limit=4)
        pages.append(page.ids)
        if (cursor := page.cursor) is None:
            break
    assert [i for page in pages for i in page] == [i for i in ids if i.startswith("ab")]
    assert all(len(page) <= 4 for page in pages)
    with pytest.raises(RemoteError, match="invalid pagination token") as refused:
        store.list_ids("ns", prefix="x", cursor=store.list_ids("ns", prefix="ab", limit=2).cursor)
    assert not refused.value.retryable


def test_a_cosine_source_becomes_an_ip_collection_of_unit_vectors(chroma_server: ChromaServer) -> None:
    store = _made(chroma_server, IndexShape("dense", "cosine", 4), ("ns",))
    unit = fidelity.normalised(Record("u", _vector(1, 2, 3, 4)))
    store.write("ns", [unit])
    assert store.fetch("ns", ["u"]) == [unit]  # bit for bit, which Chroma's cosine space does not give
    assert store.describe().shape == IndexShape("dense", "cosine", 4)
    with pytest.raises(RecordsRejected, match=r"has length 5\.47"):
        store.write("ns", [Record("v", _vector(1, 2, 3, 4))])
    pair = fidelity.between(IndexShape("dense", "cosine", 4), fidelity.PINECONE, store.room())
    assert pair.names() == ["vectors-normalised"]
    assert [change.name for change in pair.changes] == [
        "metric-named",
        "vectors-normalised",
        "empty-lists-refused",
        "inexact-floats-refused",
    ]


def test_writing_into_a_users_cosine_space_collection_is_refused(chroma_server: ChromaServer) -> None:
    database = chroma_server.new_database("cos")
    client = _client(chroma_server, database)
    client.create_collection("docs", embedding_function=None, configuration={"hnsw": {"space": "cosine"}})
    client.get_collection("docs", embedding_function=None).add(ids=["a"], embeddings=[[1, 2, 3, 4]])
    store = _store(chroma_server.uri(database, collection="docs"))
    assert store.describe().shape == IndexShape("dense", "cosine", 4)
    with pytest.raises(UserError, match="cosine space, which does not keep the values"):
        store.write(DEFAULT_NAMESPACE, [Record("b", _vector(0.5, 0.5, 0.5, 0.5))])


def test_reading_writes_nothing(chroma_server: ChromaServer) -> None:
    database = chroma_server.new_database("readonly")
    client = _client(chroma_server, database)
    client.create_collection("only", embedding_function=None).add(ids=["a"], embeddings=[[1, 2, 3, 4]])
    before = [(c.name, c.metadata) for c in client.list_collections()]
    for uri in (chroma_server.uri(database), chroma_server.uri(database, collection="only")):
        store = _store(uri, side="source")
        assert store.exists()
        store.describe()
        namespace = next(iter(store.describe().namespace_counts))
        assert store.list_ids(namespace).ids == ["a"]
        store.fetch(namespace, ["a", "b"])
        store.fetch("no-such-namespace", ["a"])
        store.list_ids("no-such-namespace")
    assert [(c.name, c.metadata) for c in client.list_collections()] == before
    assert client.get_collection("only", embedding_function=None).count() == 1
    missing = _store(chroma_server.uri("never-made"), side="source")
    assert not missing.exists()
    with pytest.raises(UserError, match="holds no collection"):
        missing.describe()
    assert missing.list_ids("x").ids == [] and missing.fetch("x", ["a"]) == []
    import chromadb.errors

    with pytest.raises(chromadb.errors.NotFoundError):
        _client_admin_get(chroma_server, "never-made")


def _client_admin_get(server: ChromaServer, database: str) -> Any:
    import chromadb
    from chromadb.config import Settings

    admin = chromadb.AdminClient(
        Settings(
            chroma_api_impl="chromadb.api.fastapi.FastAPI",
            chroma_server_host=server.host,
            chroma_server_http_port=server.port,
            anonymized_telemetry=False,
        )
    )
    return admin.get_database(database)


def test_a_store_travels_to_another_process(chroma_server: ChromaServer) -> None:
    store = _made(chroma_server)
    store.write("ns", [Record("p", _vector(1, 2, 3, 4))])
    copy = pickle.loads(pickle.dumps(store))
    assert copy.fetch("ns", ["p"]) == [Record("p", _vector(1, 2, 3, 4))]


@pytest.mark.parametrize(
    ("uri", "words"),
    [
        ("chroma://127.0.0.1:8000/?colour=red", "unknown option(s) colour"),
        ("chroma://127.0.0.1:8000/a", "'a' is not a Chroma collection name"),
        ("chroma://127.0.0.1:8000/abc?collection=abc", "in the path or as collection=, not both"),
        ("chroma://127.0.0.1:8000/?collection=abc&prefix=p", "either a collection or a prefix"),
        ("chroma://127.0.0.1:8000/?prefix=-x", "prefix '-x' cannot start"),
        ("chroma://127.0.0.1:8000/?ssl=maybe", "ssl=maybe must be true or false"),
        ("chroma://127.0.0.1:8000/?token_env=CHROMA_TEST_UNSET_TOKEN", "CHROMA_TEST_UNSET_TOKEN"),
        ("chroma://me@127.0.0.1:8000/", "takes no user name"),
        ("chroma://me:secret@127.0.0.1:8000/", "carries a password"),
        ("chroma:///?database=xyz", "name the Chroma server"),
        ("chroma://127.0.0.1:8000/?database=x", "database=x is too short"),
    ],
)
def test_bad_uris_are_refused_before_anything_is_contacted(uri: str, words: str) -> None:
    with pytest.raises(UserError, match=re.escape(words)) as refused:
        _store(uri, side="source")
    assert str(refused.value).startswith("--source") and "\n" not in str(refused.value)
    with pytest.raises(UserError):
        _store(uri, side="source")


def test_options_chroma_has_no_use_for_are_refused(chroma_server: ChromaServer) -> None:
    store = _store(chroma_server.uri())
    source = StoreDescription("src", DOT, {"ns": 1})
    with pytest.raises(UserError, match="--target-cloud, --target-region mean nothing for Chroma"):
        store.create_like(source, cloud="aws", region="us-east-1")
    assert not store.exists()  # nothing was created
    pinned = _store(chroma_server.uri(collection="one"))
    with pytest.raises(UserError, match="the source has ns"):
        pinned.create_like(source)


def test_an_unreachable_server_is_a_retryable_error_in_one_line() -> None:
    store = _store("chroma://127.0.0.1:9/?database=xyz", side="source")
    with pytest.raises(RemoteError) as failed:
        store.exists()
    assert failed.value.retryable
    assert "Chroma at http://127.0.0.1:9 did not answer" in str(failed.value)
    assert "\n" not in str(failed.value)


def test_the_same_collections_named_two_ways_are_one_location() -> None:
    first = _store("chroma://localhost:8000/?database=ddd", side="source").address.location
    second = _store("chroma://localhost/?database=ddd&document_key=text", side="target").address.location
    assert first == second == "chroma://localhost:8000/default_tenant/ddd/*"


def test_opening_a_store_imports_no_chromadb() -> None:
    code = (
        "import sys; from pinecone_migrator.stores.uri import parse; "
        "from pinecone_migrator.stores.registry import Database, open_store; "
        "open_store(Database(parse('chroma://127.0.0.1:8000/?database=ddd'))); "
        "assert 'chromadb' not in sys.modules, 'chromadb imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


@pytest.mark.parametrize("metric", ["dotproduct", "euclidean", "cosine"])
def test_search_scores_as_pinecone_scores(chroma_server: ChromaServer, metric: str) -> None:
    rng = np.random.default_rng(5)
    records = [Record(f"q{n}", rng.standard_normal(4).astype(np.float32)) for n in range(30)]
    if metric == "cosine":
        records = [fidelity.normalised(record) for record in records]
    store = _made(chroma_server, IndexShape("dense", metric, 4), ("ns",))
    store.write("ns", records)
    query = Record("query", np.array([0.5, -1.0, 2.0, 0.25], dtype=np.float32))
    matrix = np.stack([r.values for r in records]).astype(np.float64)  # type: ignore[misc]
    wanted = query.values.astype(np.float64)  # type: ignore[union-attr]
    if metric == "dotproduct":
        scores, best = matrix @ wanted, -1
    elif metric == "euclidean":
        scores, best = ((matrix - wanted) ** 2).sum(axis=1), 1
    else:
        scores, best = matrix @ wanted / np.linalg.norm(wanted), -1
    order = np.argsort(best * scores)[:5]
    found = store.query("ns", query, 5)
    assert [m.id for m in found] == [records[n].id for n in order]
    assert np.allclose([m.score for m in found], scores[order], atol=1e-5)
