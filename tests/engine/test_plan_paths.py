"""`plan`'s comparison of the paths of a move: the arithmetic against a case computed by hand, the
recommendation, and why a path is not allowed."""

from __future__ import annotations

import itertools

import pytest

from pinecone_migrator.engine.migrate.paths import (
    BULK,
    NATIVE,
    STREAMING,
    ImportRules,
    PathComparison,
    RoundTrips,
    ServiceSpeeds,
    Situation,
    Streaming,
    compare_paths,
)
from pinecone_migrator.engine.migrate.plan import NamespacePlan, Plan
from pinecone_migrator.prices import Prices

PRICES = Prices(
    date="test",
    source="by hand",
    usd_per_million_read_units=10.0,
    usd_per_million_write_units=2.0,
    usd_per_gb_imported=1.0,
    usd_per_gb_month_backup=0.1,
    usd_per_gb_restored=0.2,
    usd_per_gb_egress=0.05,
)
SPEEDS = ServiceSpeeds(
    backup_start_seconds=60,
    backup_bytes_per_second=100e6,
    restore_start_seconds=120,
    restore_bytes_per_second=50e6,
    import_start_seconds=300,
    import_bytes_per_second=20e6,
    upload_bytes_per_second=50e6,
)
RULES = ImportRules(
    max_namespaces=10_000, max_files=100_000, max_file_bytes=10 * 1024**3, rows_per_file=10_000
)
ALLOWED = Situation(
    source_serverless=True,
    same_project=True,
    same_region=True,
    target_exists=False,
    bucket="s3://moves/docs",
    integration_id="s3-moves",
)


def namespace(records: int, upserts: int, name: str = "a", target: str | None = None) -> NamespacePlan:
    return NamespacePlan(
        source=name,
        target=target or name,
        records=records,
        sampled=200,
        bytes_per_record=3_200.0,
        request_bytes_per_record=5_000.0,
        upsert_requests=upserts,
        ids_per_fetch=800.0,
    )


# 100,000 records of 3,200 bytes (5,000 as sent); 257 upserts = ceil(100,000 x 5,000 / 1,950,000)
HAND = Plan([namespace(100_000, 257)], page_size=100)
TRIPS = RoundTrips(source=0.02, target=0.03)
FOUR = Streaming(in_flight=4, namespaces_at_once=1, shards={"a": 4})


def by_name(comparison: PathComparison) -> dict[str, object]:
    return {p.name: p for p in comparison.paths}


def test_each_path_s_time_and_cost_as_computed_by_hand() -> None:
    comparison = compare_paths(HAND, TRIPS, FOUR, ALLOWED, PRICES, RULES, SPEEDS)
    streaming, native, bulk = comparison.paths

    # Streaming: 1,000 list requests (200/s: 5 s), 125 fetches of 800 IDs (100/s: 1.25 s), 257 upserts
    # (100/s: 2.57 s) of 500,000,000 bytes (50 MiB/s: 9.537 s); listing 1,000 x 20 ms over 4 shards: 5 s;
    # round trips (125 x 20 ms + 257 x 30 ms) / 4 in flight: 2.55 s. The slowest: upsert bytes.
    assert streaming.name == STREAMING and streaming.legal
    assert streaming.seconds == pytest.approx(500_000_000 / (50 * 1024 * 1024))
    assert streaming.bound_by == "upsert rate limits (per namespace)"
    # Read units: 1 per list (1,000) + 125 fetches x 80 (1 per 10 records); write units: 257 requests of
    # 1,945,525 bytes = 1,900 KB each; egress: the 500,000,000 bytes read.
    assert streaming.cost.read_units == 1_000 + 125 * 80
    assert streaming.cost.write_units == 257 * 1_900
    assert streaming.cost.egress_bytes == 500_000_000
    assert streaming.cost.usd(PRICES) == pytest.approx(0.11 + 0.9766 + 0.025)

    # Native: 320,000,000 bytes backed up (60 s + 3.2 s) and restored (120 s + 6.4 s); stored a month and
    # restored: 0.32 GB x $0.1 + 0.32 GB x $0.2.
    assert native.name == NATIVE and native.legal
    assert native.seconds == pytest.approx(189.6)
    assert native.cost.usd(PRICES) == pytest.approx(0.032 + 0.064)

    # Export -> import: the export is bound by its upload (320 MB at 50 MB/s: 6.4 s; reads 5 s), the import
    # 300 s + 16 s; the same read units and egress as streaming, plus 0.32 GB imported at $1.
    assert bulk.name == BULK and bulk.legal
    assert bulk.seconds == pytest.approx(6.4 + 300 + 16)
    assert bulk.cost.usd(PRICES) == pytest.approx(0.11 + 0.025 + 0.32)

    assert comparison.recommended is streaming
    assert "least estimated time" in comparison.reason()


def test_latency_bounds_a_streaming_copy_when_it_waits_longer_than_the_limits() -> None:
    # One listing of 1,000 pages at 80 ms is 80 s, far above what the limits allow (9.5 s).
    slow = compare_paths(HAND, RoundTrips(0.08, 0.08), Streaming(4, 1), ALLOWED, PRICES, RULES, SPEEDS)
    assert slow.paths[0].seconds == pytest.approx(80.0)
    assert slow.paths[0].bound_by == "listing round trips"


BIG = Plan([namespace(50_000_000, 128_206)], page_size=100)
SMALL = Plan([namespace(2_000, 6)], page_size=100)
SITUATIONS = [
    Situation(
        source_serverless=serverless,
        same_project=same_project,
        same_region=True,
        target_exists=False,
        bucket="s3://b" if bucket else None,
        integration_id="i" if bucket else None,
    )
    for serverless, same_project, bucket in itertools.product([True, False], repeat=3)
]


@pytest.mark.parametrize("plan", [BIG, SMALL, HAND], ids=["50M", "2k", "100k"])
@pytest.mark.parametrize("situation", SITUATIONS)
def test_the_recommended_path_is_the_fastest_allowed_one(plan: Plan, situation: Situation) -> None:
    comparison = compare_paths(plan, TRIPS, FOUR, situation, PRICES, RULES, SPEEDS)
    allowed = [p for p in comparison.paths if p.legal]
    assert comparison.recommended is not None
    assert comparison.recommended.legal
    assert comparison.recommended.seconds == min(p.seconds for p in allowed)


def test_a_large_move_goes_by_backup_within_a_project_and_by_import_across_projects() -> None:
    # 50 million records: streaming takes 500,000 list requests (2,500 s) and 250 GB of upserts (~4,768 s).
    # At the assumed speeds a backup and restore of 160 GB takes 60 + 320 + 120 + 800 s, an export and
    # import 3,200 s of upload + 300 + 1,600 s; with a faster import (500 MB/s), 2,500 s of reads + 300 + 320.
    within = compare_paths(BIG, TRIPS, FOUR, ALLOWED, PRICES, RULES)
    assert within.paths[1].seconds == pytest.approx(1_300)
    assert within.recommended is not None and within.recommended.name == NATIVE
    fast_import = ServiceSpeeds(import_bytes_per_second=500e6, upload_bytes_per_second=500e6)
    across = compare_paths(
        BIG, TRIPS, FOUR, Situation(**{**vars(ALLOWED), "same_project": False}), PRICES, RULES, fast_import
    )
    assert across.recommended is not None and across.recommended.name == BULK
    assert "another project" in " ".join(by_name(across)[NATIVE].not_legal)  # type: ignore[attr-defined]


def test_why_a_path_is_not_allowed() -> None:
    crossing = Situation(
        source_serverless=True,
        same_project=False,
        same_region=False,
        target_exists=True,
        changed_by=("--filter",),
        existing_target_namespaces=frozenset({"a"}),
        regions="source aws/us-east-1, target gcp/europe-west4",
    )
    comparison = compare_paths(HAND, TRIPS, FOUR, crossing, PRICES, RULES, SPEEDS)
    streaming, native, bulk = comparison.paths
    assert streaming.legal and comparison.recommended is streaming
    assert not native.legal and not bulk.legal
    said = " | ".join(native.not_legal)
    assert "another project" in said and "aws/us-east-1" in said and "gcp/europe-west4" in said
    assert "creates a new index" in said and "--filter cannot apply" in said
    said = " | ".join(bulk.not_legal)
    assert "needs --bucket" in said and "needs --integration-id" in said and "'a' exist already" in said

    local = Situation(**{**vars(ALLOWED), "bucket": "/data/export"})
    said = compare_paths(HAND, TRIPS, FOUR, local, PRICES, RULES, SPEEDS).paths[2].not_legal
    assert said == ("/data/export is not object storage: Pinecone imports from s3://, gs:// or Azure",)

    pods = compare_paths(HAND, TRIPS, FOUR, Situation(**{**vars(ALLOWED), "source_serverless": False}),
                         PRICES, RULES, SPEEDS)  # fmt: skip
    assert pods.paths[1].not_legal == ("Pinecone backs up serverless indexes only; the source is not one",)


def test_an_import_too_big_for_one_job_is_not_allowed() -> None:
    many = Plan([namespace(10, 1, name=f"t{n}") for n in range(10_001)], page_size=100)
    said = " ".join(compare_paths(many, TRIPS, FOUR, ALLOWED, PRICES, RULES, SPEEDS).paths[2].not_legal)
    assert "10,001 namespaces: one import takes at most 10,000" in said
    huge_files = ImportRules(10_000, 100_000, max_file_bytes=10_000_000, rows_per_file=10_000)
    said = " ".join(compare_paths(HAND, TRIPS, FOUR, ALLOWED, PRICES, huge_files, SPEEDS).paths[2].not_legal)
    assert "files of ~0.0298 GiB" in said  # 10,000 rows x 3,200 bytes = 32 MB over a 10 MB bound


def test_a_source_with_dedicated_read_nodes_is_not_bound_by_read_limits_nor_billed_read_units() -> None:
    # 100,000 records in 10 namespaces of 10,000 (one upsert each way below the write limits): the list
    # limit (1,000 requests at 200/s: 5 s) bounds a serverless source; with dedicated read nodes the listing
    # round trips do (100 pages x 20 ms per namespace, 10 side by side: 2 s).
    spread = Plan([namespace(10_000, 26, name=f"t{n}") for n in range(10)], page_size=100)
    lanes = Streaming(in_flight=64, namespaces_at_once=10)
    shared = compare_paths(spread, TRIPS, lanes, ALLOWED, PRICES, RULES, SPEEDS).paths[0]
    # read units: 1,000 lists + per namespace 13 fetches of ~770 IDs at 77 read units each
    assert shared.seconds == pytest.approx(5.0) and shared.cost.read_units == 1_000 + 10 * 13 * 77
    dedicated = Situation(**{**vars(ALLOWED), "source_dedicated_reads": True})
    alone = compare_paths(spread, TRIPS, lanes, dedicated, PRICES, RULES, SPEEDS).paths[0]
    assert alone.seconds == pytest.approx(2.0) and alone.bound_by == "listing round trips"
    assert alone.cost.read_units == 0 and "dedicated read nodes" in " ".join(alone.notes)
