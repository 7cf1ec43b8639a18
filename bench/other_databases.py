"""Other databases, both directions, against each database's own bulk-load path (issue 15).

For each database with a module in ``bench/databases/`` (pgvector, qdrant, chroma, milvus, lancedb), at
dimension 768 (cosine, ~200 bytes of metadata per record), measured in the same run and printed side by
side:

* native load (the ceiling): the database's own fastest bulk path (COPY for PostgreSQL, the client's bulk
  insert for the others), records generated beforehand, into a table shaped like the one we create;
* Pinecone -> DB (ours): the migrate workflow from an index on the local Pinecone server (its own process)
  into a new table/collection of the database, created by the run;
* DB -> Pinecone (ours): the migrate workflow from that table/collection back into a new index on the
  local server;
* files -> DB (ours): the import workflow from a Parquet export on local disk into a new table: the same
  writes without the local server's reads in the way, which is what the ceiling compares with.

The workflows run in this process (as the CLI runs them, without its start-up); each figure is records /
wall second of the whole run, including creating the target. Goal from the issue: ours >= 50 % of the
ceiling. ``--only pgvector,lancedb`` picks databases; ``--records N`` the size (default 20,000).
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import pkgutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from pinecone_migrator.engine.request import Endpoint, MigrationRequest
from pinecone_migrator.engine.workflows import export, import_files, migrate
from pinecone_migrator.records import Record
from pinecone_migrator.stores.base import CreatesLike, IndexShape, StoreDescription
from pinecone_migrator.stores.registry import Database, Files, PineconeIndex, export_folder, open_store
from pinecone_migrator.stores.uri import parse
from tests.serverproc import ServerProcess

KEY = "bench-key"
GOAL = 0.5


def make_data(count: int, dimension: int) -> tuple[list[str], np.ndarray, list[dict[str, Any]]]:
    rng = np.random.default_rng(768)
    ids = [f"doc-{n:07d}#chunk-{n % 13}" for n in range(count)]
    vectors = rng.standard_normal((count, dimension)).astype(np.float32)
    metadata: list[dict[str, Any]] = [
        {"title": f"document {n} about topic {n % 97}", "n": n, "score": n / 7, "public": n % 2 == 0,
         "tags": [f"t{n % 5}", f"g{n % 3}"], "body": "lorem ipsum dolor sit amet " * 4}
        for n in range(count)
    ]  # fmt: skip
    return ids, vectors, metadata


def benches(only: set[str] | None) -> list[tuple[str, Any]]:
    """(name, bench object) for each module of bench/databases with a ``...Bench`` class."""
    import bench.databases as package

    found = []
    for module_info in pkgutil.iter_modules(package.__path__):
        name = module_info.name
        if only is not None and name not in only:
            continue
        module = importlib.import_module(f"bench.databases.{name}")
        classes = [c for n, c in inspect.getmembers(module, inspect.isclass) if n.endswith("Bench")]
        classes = [c for c in classes if c.__module__ == module.__name__]
        if classes:
            found.append((name, classes[0]()))
    return found


def fill_index(
    server: ServerProcess, name: str, ids: list[str], vectors: np.ndarray, metadata: list[Any]
) -> None:
    store = open_store(PineconeIndex(name, server.url, api_key=KEY))
    assert isinstance(store, CreatesLike)
    shape = IndexShape("dense", "cosine", vectors.shape[1])
    store.create_like(StoreDescription(name=name, shape=shape, namespace_counts={}))
    for start in range(0, len(ids), 100):
        batch = [
            Record(id=ids[n], values=vectors[n], metadata=metadata[n])
            for n in range(start, min(start + 100, len(ids)))
        ]
        store.write("bench", batch)


def _request(source: Endpoint, target: Endpoint, state: Path) -> MigrationRequest:
    return MigrationRequest(source=source, target=target, state_path=state, accept_changes=True)


def timed(run: Any) -> float:
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


def run_one(
    name: str, bench: Any, server: ServerProcess, data: Any, export_dir: Path, work: Path
) -> dict[str, Any]:
    ids, vectors, metadata = data
    count = len(ids)
    result: dict[str, Any] = {"database": name}
    bench.start()
    try:
        result["native"] = count / timed(lambda: bench.native_load("native_load", ids, vectors, metadata))
        to_db = bench.uri("ours_from_pinecone")
        source = open_store(PineconeIndex("src", server.url, api_key=KEY))
        target = open_store(Database(parse(to_db, "target")))
        request = _request(
            Endpoint("src", server.url), Endpoint(to_db, None, uri=True), work / f"{name}-a.sqlite"
        )
        outcome = None

        def forward() -> None:
            nonlocal outcome
            outcome = migrate(request, source, target, stop=threading.Event())

        result["pinecone_to_db"] = count / timed(forward)
        assert outcome is not None and outcome.summary.complete, outcome
        result["refused"] = outcome.summary.dead_letters  # records the database cannot hold (dead letters)
        back_source = open_store(Database(parse(to_db, "source")))
        back_target = open_store(PineconeIndex(f"back-{name}", server.url, api_key=KEY))
        back = _request(
            Endpoint(to_db, None, uri=True), Endpoint(f"back-{name}", server.url), work / f"{name}-b.sqlite"
        )
        result["db_to_pinecone"] = count / timed(lambda: migrate(back, back_source, back_target))
        from_files = bench.uri("ours_from_files")
        files_target = open_store(Database(parse(from_files, "target")))
        imported = _request(
            Endpoint(str(export_dir), None), Endpoint(from_files, None, uri=True), work / f"{name}-c.sqlite"
        )
        result["files_to_db"] = count / timed(lambda: import_files(imported, files_target))
    finally:
        bench.stop()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--dimension", type=int, default=768)
    parser.add_argument("--only", default=None, help="comma-separated databases (default: every one)")
    args = parser.parse_args()
    only = set(args.only.split(",")) if args.only else None
    data = make_data(args.records, args.dimension)
    print(f"other databases: {args.records:,} records at dimension {args.dimension}, cosine, 1 namespace")
    with tempfile.TemporaryDirectory() as tmp, ServerProcess(None, "--api-key", KEY) as server:
        work = Path(tmp)
        fill_index(server, "src", *data)
        export_dir = work / "export"
        folder = export_folder(str(export_dir), "parquet")
        source = open_store(PineconeIndex("src", server.url, api_key=KEY))
        export(_request(Endpoint("src", server.url), Endpoint(str(export_dir), None), work / "export.sqlite"),
               source, folder)  # fmt: skip
        assert open_store(Files(str(export_dir))).exists()
        rows = []
        for name, bench in benches(only):
            print(f"  {name} ...", flush=True)
            rows.append(run_one(name, bench, server, data, export_dir, work))
    head = (
        "database",
        "native load",
        "Pinecone->DB",
        "DB->Pinecone",
        "files->DB",
        "files/native",
        "P->DB/native",
        "refused",
    )
    print("  ".join(f"{cell:>13}" for cell in head))
    for row in rows:
        native = row["native"]
        cells = [f"{row[key]:,.0f}" for key in ("native", "pinecone_to_db", "db_to_pinecone", "files_to_db")]
        ratios = [f"{row['files_to_db'] / native:.0%}", f"{row['pinecone_to_db'] / native:.0%}"]
        print("  ".join(f"{cell:>13}" for cell in (row["database"], *cells, *ratios, f"{row['refused']:,}")))
    print(f"(records/s of records read; refused: dead letters of Pinecone->DB; goal >= {GOAL:.0%} of native)")


if __name__ == "__main__":
    main()
