"""What only the Qdrant store has: cosine vectors as Qdrant keeps them (bit for bit), collections a user
made (point IDs, payloads, named vectors), namespaces in a field or in collections, URIs refused before
anything is contacted, an unreachable server, a folder another process holds, and no writes to a source."""

from __future__ import annotations

import hashlib
import pickle
import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from qdrant_client import QdrantClient, models

from pinecone_migrator.errors import RecordsRejected, RemoteError, UserError
from pinecone_migrator.records import Record, SparseValues
from pinecone_migrator.stores.base import DEFAULT_NAMESPACE, IndexShape, StoreDescription
from pinecone_migrator.stores.fidelity import normalised
from pinecone_migrator.stores.qdrant import open_uri
from pinecone_migrator.stores.qdrant.store import QdrantStore
from pinecone_migrator.stores.uri import parse
from tests.stores.conformance import flat, listed

from .server import QdrantFolder

COSINE = IndexShape("dense", "cosine", 8)


def _store(uri: str) -> QdrantStore:
    return open_uri(parse(uri, side="source"))


def _made_like(folder: QdrantFolder, shape: IndexShape, **options: str) -> QdrantStore:
    store = _store(folder.uri(folder.new_name(), **options))
    store.create_like(StoreDescription(name="s", shape=shape, namespace_counts={}))
    return store


@pytest.fixture
def plain(qdrant_folder: QdrantFolder) -> Iterator[QdrantClient]:
    """qdrant-client itself on the folder (what a user's program does), the store's client let go first."""
    qdrant_folder.release()
    client = QdrantClient(path=str(qdrant_folder.path))
    try:
        yield client
    finally:
        client.close()


def _random_vectors(count: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    vectors = []
    for n in range(count):
        dimension = (2, 3, 4, 7, 8, 16, 33)[n % 7]
        scale = 10.0 ** rng.integers(-4, 6)
        spread = rng.standard_normal(dimension) if n % 2 else rng.uniform(-1, 1, dimension)
        vectors.append((spread * scale).astype(np.float32))
    return vectors


# -- cosine vectors ------------------------------------------------------------------------------------------


def test_cosine_vectors_read_back_as_fidelity_says_bit_for_bit(qdrant_folder: QdrantFolder) -> None:
    """Many random vectors (dimensions 2 to 33, lengths 1e-4 to 1e6) written through the store into cosine
    collections read back exactly as :func:`normalised` makes them, and a record so normalised, written
    again (copy writes it so), is kept as it is."""
    vectors = _random_vectors(1_400, seed=11)
    by_dimension: dict[int, list[Record]] = {}
    for n, values in enumerate(vectors):
        by_dimension.setdefault(values.size, []).append(Record(id=f"v{n}", values=values))
    for dimension, records in by_dimension.items():
        store = _made_like(qdrant_folder, replace(COSINE, dimension=dimension))
        store.write("ns", records)
        fetched = {r.id: r for r in store.fetch("ns", [r.id for r in records])}
        expected = [normalised(record) for record in records]
        assert [fetched[r.id].values.tobytes() for r in expected] == [r.values.tobytes() for r in expected]  # type: ignore[union-attr]
        for namespace in ("again", "ns"):  # new points, and the same points updated
            store.write(namespace, expected)
            again = {r.id: r for r in store.fetch(namespace, [r.id for r in records])}
            assert all(again[r.id] == r for r in expected)


def test_normalised_is_qdrants_own_result_wherever_qdrant_keeps_it(plain: QdrantClient) -> None:
    """Written with qdrant-client alone as new points: where Qdrant's scaling of a vector is stable (Qdrant
    keeps it when it is written again: most vectors), :func:`normalised` gives exactly that; where it is
    not, Qdrant keeps what :func:`normalised` gives. The old single division (``v / norm``) fails the
    second half."""
    vectors = _random_vectors(1_400, seed=12)
    stable = unstable = 0
    for dimension in sorted({v.size for v in vectors}):
        mine = [v for v in vectors if v.size == dimension]
        name = f"plain{dimension}"
        plain.create_collection(
            name, vectors_config=models.VectorParams(size=dimension, distance=models.Distance.COSINE)
        )

        def stored(values: list[np.ndarray], name: str = name) -> list[bytes]:
            first = plain.count(name).count
            ids = list(range(first, first + len(values)))
            plain.upsert(
                name, [models.PointStruct(id=n, vector=v.tolist()) for n, v in zip(ids, values, strict=True)]
            )
            points = sorted(plain.retrieve(name, ids, with_vectors=True), key=lambda p: p.id)
            return [np.asarray(p.vector, dtype=np.float32).tobytes() for p in points]

        qdrants = stored(mine)
        rewritten = stored([np.frombuffer(b, dtype=np.float32) for b in qdrants])
        ours = [normalised(Record("x", v)).values for v in mine]
        kept = stored(ours)  # type: ignore[arg-type]
        for qdrant, again, our, keeps in zip(qdrants, rewritten, ours, kept, strict=True):
            assert our is not None and keeps == our.tobytes()
            if again == qdrant:
                stable += 1
                assert our.tobytes() == qdrant
            else:
                unstable += 1
    assert stable > 900 and unstable > 0  # both cases were met


# -- a collection a user made --------------------------------------------------------------------------------


def _digest(folder: Path) -> str:
    hasher = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.name != ".lock":
            hasher.update(str(path).encode() + path.read_bytes())
    return hasher.hexdigest()


def test_a_users_collection_reads_as_records_and_is_not_written(
    plain: QdrantClient, qdrant_folder: QdrantFolder
) -> None:
    """Integer and UUID point IDs, the unnamed vector, a payload of every JSON type and a namespace field on
    some points: read as records (IDs as text), and reading writes nothing to the folder."""
    plain.create_collection("users", vectors_config=models.VectorParams(size=3, distance=models.Distance.DOT))
    a_uuid = str(uuid.UUID(int=2**100 + 7))
    payload = {"n": 3, "big": 2.0**53 + 2, "f": 0.1, "yes": True, "tags": ["b", "a"], "deep": {"x": [1, 2]}}
    plain.upsert(
        "users",
        [
            models.PointStruct(id=17, vector=[0.5, -0.0, 1e-45], payload=payload),
            models.PointStruct(id=a_uuid, vector=[1.0, 2.0, 3.0], payload={"namespace": "blue", "k": "v"}),
            models.PointStruct(id=2**63, vector=[3.0, 2.0, 1.0], payload={}),
        ],
    )
    plain.close()
    before = _digest(qdrant_folder.path)
    store = _store(qdrant_folder.uri("users"))
    description = store.describe()
    assert description.shape == IndexShape("dense", "dotproduct", 3)
    assert description.namespace_counts == {DEFAULT_NAMESPACE: 2, "blue": 1}
    assert sorted(flat(listed(store, DEFAULT_NAMESPACE, limit=1))) == sorted(["17", str(2**63)])
    assert flat(listed(store, "blue")) == [a_uuid]
    fetched = {r.id: r for r in store.fetch(DEFAULT_NAMESPACE, ["17", str(2**63), a_uuid, "18"])}
    assert sorted(fetched) == sorted(["17", str(2**63)])  # the UUID's point is in namespace blue
    seventeen = fetched["17"]
    assert seventeen.values is not None
    assert seventeen.values.tobytes() == np.array([0.5, -0.0, 1e-45], dtype=np.float32).tobytes()
    assert seventeen.metadata == payload
    assert type(seventeen.metadata["n"]) is int and seventeen.metadata["big"] == 2.0**53 + 2
    assert store.fetch("blue", [a_uuid])[0].metadata == {"k": "v"}  # the namespace key is not metadata
    room = store.room()
    assert room.dense and not room.sparse and room.metadata_nested
    qdrant_folder.release()
    assert _digest(qdrant_folder.path) == before


def test_named_vectors_are_chosen_by_option(plain: QdrantClient, qdrant_folder: QdrantFolder) -> None:
    plain.create_collection(
        "two",
        vectors_config={
            "image": models.VectorParams(size=2, distance=models.Distance.EUCLID),
            "text": models.VectorParams(size=3, distance=models.Distance.MANHATTAN),
        },
        sparse_vectors_config={"words": models.SparseVectorParams()},
    )
    plain.upsert(
        "two",
        [
            models.PointStruct(
                id=1,
                vector={
                    "image": [1.0, 2.0],
                    "text": [1.0, 2.0, 3.0],
                    "words": models.SparseVector(indices=[2**32 - 1, 5], values=[0.5, 0.25]),
                },
            )
        ],
    )
    plain.close()
    with pytest.raises(UserError, match=r"several vectors \('image', 'text'\): choose one with \?vector="):
        _store(qdrant_folder.uri("two")).describe()
    with pytest.raises(UserError, match="no vector 'photo'"):
        _store(qdrant_folder.uri("two", vector="photo")).describe()
    text = _store(qdrant_folder.uri("two", vector="text"))
    assert text.describe().shape == IndexShape("dense", "manhattan", 3)
    record = text.fetch(DEFAULT_NAMESPACE, ["1"])[0]
    assert record.values is not None and record.values.tolist() == [1.0, 2.0, 3.0]
    assert record.sparse == SparseValues(
        np.array([5, 2**32 - 1], np.uint32), np.array([0.25, 0.5], np.float32)
    )
    assert _store(qdrant_folder.uri("two", vector="image")).describe().shape.metric == "euclidean"


# -- IDs and namespaces --------------------------------------------------------------------------------------


def test_the_same_id_in_two_namespaces_is_two_points(qdrant_folder: QdrantFolder) -> None:
    store = _made_like(qdrant_folder, IndexShape("dense", "dotproduct", 2))
    first = Record("same", values=np.array([1, 2], np.float32), metadata={"which": "first"})
    second = Record("same", values=np.array([3, 4], np.float32), metadata={"which": "second"})
    numeric = Record("17", values=np.array([5, 6], np.float32))  # written as a UUID point, read back as "17"
    store.write("a", [first, numeric])
    store.write(DEFAULT_NAMESPACE, [second])
    assert store.fetch("a", ["same", "17"]) in ([first, numeric], [numeric, first])
    assert store.fetch(DEFAULT_NAMESPACE, ["same", "17"]) == [second]
    assert store.describe().namespace_counts == {"a": 2, DEFAULT_NAMESPACE: 1}
    store.delete("a", ["same"])
    assert store.fetch(DEFAULT_NAMESPACE, ["same"]) == [second] and store.fetch("a", ["same"]) == []


def test_namespaces_as_collections(qdrant_folder: QdrantFolder, plain: QdrantClient) -> None:
    plain.close()
    name = qdrant_folder.new_name("family")
    store = _store(qdrant_folder.uri(name, namespaces="collections"))
    store.create_like(
        StoreDescription(name="s", shape=IndexShape("dense", "euclidean", 2), namespace_counts={})
    )
    records = [Record(f"r{n}", values=np.array([n, -n], np.float32), metadata={"n": n}) for n in range(5)]
    store.write("tenant b/2", records[:3])
    store.write(DEFAULT_NAMESPACE, records[3:])
    assert store.describe().namespace_counts == {"tenant b/2": 3, DEFAULT_NAMESPACE: 2}
    assert sorted(flat(listed(store, "tenant b/2", limit=2))) == ["r0", "r1", "r2"]
    assert sorted(r.id for r in store.fetch("tenant b/2", ["r0", "r3"])) == ["r0"]
    qdrant_folder.release()
    client = QdrantClient(path=str(qdrant_folder.path))
    try:
        names = {c.name for c in client.get_collections().collections}
        assert {name, f"{name}__tenant%20b%2F2"} <= names  # a namespace percent-encoded in the name
        assert client.count(f"{name}__tenant%20b%2F2").count == 3
        assert "namespace" not in (client.scroll(f"{name}__tenant%20b%2F2", limit=1)[0][0].payload or {})
    finally:
        client.close()


def test_a_record_using_a_reserved_key_is_refused_and_nothing_of_its_batch_written(
    qdrant_folder: QdrantFolder,
) -> None:
    store = _made_like(qdrant_folder, IndexShape("dense", "dotproduct", 2))
    fine = Record("fine", values=np.array([1, 2], np.float32))
    clash = Record("clash", values=np.array([1, 2], np.float32), metadata={"namespace": "x"})
    with pytest.raises(RecordsRejected, match=r"'clash'.*'namespace'"):
        store.write("ns", [fine, clash])
    assert store.fetch("ns", ["fine"]) == []
    with pytest.raises(RecordsRejected, match=r"'wide'.*dimension 3"):
        store.write("ns", [Record("wide", values=np.ones(3, np.float32))])


def test_a_listing_read_ahead_never_outlives_a_write(qdrant_folder: QdrantFolder) -> None:
    """Local mode lists long pages and keeps what the caller did not ask for yet; a write or delete in
    between drops it, so a listing resumed from a cursor sees the collection as it is."""
    store = _made_like(qdrant_folder, IndexShape("dense", "dotproduct", 2))
    store.write("ns", [Record(f"r{n:02d}", values=np.array([n, 1], np.float32)) for n in range(30)])
    everything = flat(listed(store, "ns", limit=10))
    first = store.list_ids("ns", limit=10)
    assert first.ids == everything[:10] and first.cursor is not None
    store.delete("ns", everything[10:20])
    rest = store.list_ids("ns", cursor=first.cursor, limit=10)
    assert rest.ids == everything[20:]
    store.write("other", [Record("elsewhere", values=np.array([1, 1], np.float32))])
    assert flat(listed(store, "ns", limit=7)) == everything[:10] + everything[20:]


# -- URIs, failures, processes -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("uri", "says"),
    [
        ("qdrant:///data/q?collection=c&colour=red", "unknown option(s) colour"),
        ("qdrant:///data/q", "name one with ?collection=NAME"),
        ("qdrant://host:6333", "name one collection after the host"),
        ("qdrant:///data/q?collection=c&namespaces=tables", "namespaces must be field or collections"),
        ("qdrant://host:6333/c?https=maybe", "https must be true or false"),
        ("qdrant://host:6333/c?collection=c", "unknown option(s) collection"),
        ("qdrant://host:6333/a/b", "name one collection after the host"),
        ("qdrant://me@host:6333/c", "Qdrant has no users"),
        ("qdrant:///data/q?collection=a/b", "is not a Qdrant collection name"),
    ],
)
def test_bad_uris_are_refused_before_anything_is_contacted(uri: str, says: str) -> None:
    with pytest.raises(UserError) as refused:
        open_uri(parse(uri, side="target"))
    assert says in str(refused.value) and "--target" in str(refused.value)


def test_a_password_in_the_uri_is_refused() -> None:
    with pytest.raises(UserError, match="carries a password"):
        parse("qdrant://me:secret@host:6333/c", side="source")


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_an_unreachable_server_is_a_retryable_remote_error() -> None:
    store = _store(f"qdrant://127.0.0.1:{_closed_port()}/items")  # opened without contacting anything
    with pytest.raises(RemoteError) as failed:
        store.exists()
    assert failed.value.retryable and "did not answer" in str(failed.value)
    assert "Traceback" not in str(failed.value) and len(str(failed.value).splitlines()) == 1


class _Answers(BaseHTTPRequestHandler):
    """An HTTP server that answers every request with one status, as a Qdrant server refusing does."""

    status = 401

    def do_GET(self) -> None:
        body = b'{"status": {"error": "refused here"}}'
        self.send_response(self.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.mark.parametrize(("status", "retryable"), [(401, None), (403, None), (503, True), (404, False)])
def test_a_servers_refusals_are_said_in_the_librarys_terms(
    status: int, retryable: bool | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    handler = type("Answers", (_Answers,), {"status": status})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("TEST_QDRANT_KEY", "wrong")
    try:
        store = _store(
            f"qdrant://127.0.0.1:{server.server_address[1]}/items?api_key_env=TEST_QDRANT_KEY&https=false"
        )
        with pytest.raises((UserError, RemoteError)) as failed:
            store.exists()
    finally:
        server.shutdown()
        server.server_close()
    said = str(failed.value)
    if retryable is None:  # bad credentials: the variable to fix is named
        assert isinstance(failed.value, UserError) and "TEST_QDRANT_KEY" in said and f"[{status}]" in said
    else:
        assert isinstance(failed.value, RemoteError) and failed.value.retryable is retryable
        assert f"[{status}]" in said and "refused here" in said
    assert len(said.splitlines()) == 1


def test_a_missing_api_key_variable_is_named() -> None:
    store = _store("qdrant://127.0.0.1:6333/items?api_key_env=NO_SUCH_QDRANT_KEY")
    with pytest.raises(UserError, match="NO_SUCH_QDRANT_KEY"):
        store.exists()


def test_a_missing_folder_is_not_created_by_reading(tmp_path: Path) -> None:
    folder = tmp_path / "nothing-here"
    store = _store(f"qdrant://{folder}?collection=c")
    assert not store.exists()
    assert not folder.exists()


def test_a_server_store_pickles_and_a_local_one_stays_in_its_process(qdrant_folder: QdrantFolder) -> None:
    from pinecone_migrator.engine.verify.workers import picklable

    server = _store("qdrant://127.0.0.1:6333/items?namespaces=collections")
    copy = pickle.loads(pickle.dumps(server))
    assert isinstance(copy, QdrantStore) and copy.settings == server.settings
    assert not picklable(_store(qdrant_folder.uri("anything")))


def test_a_folder_open_in_another_process_is_refused_clearly(qdrant_folder: QdrantFolder) -> None:
    _made_like(qdrant_folder, IndexShape("dense", "dotproduct", 2))  # this process holds the folder now
    other = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from pinecone_migrator.stores.qdrant import open_uri; "
            "from pinecone_migrator.stores.uri import parse; from pinecone_migrator.errors import UserError\n"
            "try:\n    open_uri(parse(sys.argv[1], side='source')).exists()\n"
            "except UserError as e:\n    print(e)",
            qdrant_folder.uri("anything"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "is open in another process" in other.stdout and "Qdrant server" in other.stdout


def test_create_like_refuses_what_means_nothing_to_qdrant(qdrant_folder: QdrantFolder) -> None:
    store = _store(qdrant_folder.uri(qdrant_folder.new_name()))
    with pytest.raises(UserError, match="--target-cloud, --target-region mean nothing"):
        store.create_like(COSINE_DESCRIPTION, cloud="aws", region="us-east-1")
    assert not store.exists()
    store.create_like(COSINE_DESCRIPTION)
    with pytest.raises(UserError, match="exists already"):
        store.create_like(COSINE_DESCRIPTION)


COSINE_DESCRIPTION = StoreDescription(name="s", shape=COSINE, namespace_counts={})


def test_an_api_key_travels_over_tls_unless_the_uri_says_otherwise() -> None:
    def https(uri: str) -> bool:
        return _store(uri).settings.https

    assert https("qdrant://q.example:6333/c?api_key_env=K")
    assert not https("qdrant://q.example:6333/c?api_key_env=K&https=false")
    assert not https("qdrant://localhost:6333/c") and https("qdrant://localhost:6333/c?https=true")


def test_a_qdrant_listing_is_never_split_into_id_prefix_shards(qdrant_folder: QdrantFolder) -> None:
    """The engine finds shard prefixes from the smallest ID under each, which a listing in point-ID order
    does not give: asked for 8 shards, it lists the namespace whole (sharded, it had missed IDs)."""
    from pinecone_migrator.engine.migrate.shards import shards_wanted

    store = _made_like(qdrant_folder, IndexShape("dense", "dotproduct", 2))
    store.write(
        "ns", [Record(f"{c}{n}", values=np.array([n, 1], np.float32)) for c in "abc" for n in range(5)]
    )
    assert shards_wanted(store, "ns", 1_000_000, 8, None, None) == 0
