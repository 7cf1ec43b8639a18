"""Drive the control plane with the 9.x SDK, which speaks the classic (2025-10) dialect.

Runs under the SDK-9 environment (``.venv-sdk9``), not the project's, so it imports nothing from the project
and uses only the standard library and ``pinecone`` 9.x::

    .venv-sdk9/bin/python tests/server/sdk9_control_scenario.py http://127.0.0.1:5080 [INDEX_FROM_SDK10]

With a second argument it first describes that index, created beforehand through SDK 10.x, and checks it is
dense, 8-dimensional, cosine, tagged ``{"made-by": "sdk10"}`` and deletion-protected. It leaves behind one
index, ``made-by-sdk9`` (dense, 8, dotproduct, tagged, protected), for SDK 10.x to describe afterwards. Exits
0 when everything holds, 1 with the failing step and what differed otherwise.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable
from typing import Any

import pinecone
from pinecone import (
    ConflictError,
    ForbiddenError,
    NotFoundError,
    Pinecone,
    PodSpec,
    ServerlessSpec,
)

SPEC = ServerlessSpec(cloud="aws", region="us-east-1")
LEFT_FOR_SDK10 = "made-by-sdk9"
DEDICATED = {
    "mode": "Dedicated",
    "dedicated": {"node_type": "b1", "scaling": "Manual", "manual": {"shards": 2, "replicas": 1}},
}


class ScenarioFailure(Exception):
    pass


def expect(actual: Any, expected: Any, what: str) -> None:
    if actual != expected:
        raise ScenarioFailure(f"{what}: expected {expected!r}, got {actual!r}")


def expect_error(error: type[Exception], call: Callable[[], Any], what: str) -> Exception:
    try:
        call()
    except error as raised:
        return raised
    except Exception as other:
        raise ScenarioFailure(
            f"{what}: expected {error.__name__}, got {type(other).__name__}: {other}"
        ) from other
    raise ScenarioFailure(f"{what}: expected {error.__name__}, but the call succeeded")


def describe_sdk10_index(pc: Pinecone, name: str) -> None:
    index = pc.describe_index(name)
    expect((index.dimension, index.metric, index.vector_type), (8, "cosine", "dense"), f"{name} vectors")
    expect(index.tags, {"made-by": "sdk10"}, f"{name} tags")
    expect(index.deletion_protection, "enabled", f"{name} deletion protection")
    expect(index.spec.serverless.region, "us-east-1", f"{name} region")


def create_serverless(pc: Pinecone, url: str) -> None:
    pc.create_index("dense", dimension=8, metric="euclidean", spec=SPEC, tags={"env": "dev", "team": "ml"})
    index = pc.describe_index("dense")
    expect(
        (index.name, index.dimension, index.metric, index.vector_type),
        ("dense", 8, "euclidean", "dense"),
        "dense",
    )
    expect(index.host, f"{url}/data/dense", "dense host")
    expect((index.status.ready, index.status.state), (True, "Ready"), "dense status")
    expect((index.spec.serverless.cloud, index.spec.serverless.region), ("aws", "us-east-1"), "dense spec")
    expect(
        index.spec.serverless.read_capacity,
        {"mode": "OnDemand", "status": {"state": "Ready"}},
        "read capacity",
    )
    expect(index.tags, {"env": "dev", "team": "ml"}, "dense tags")
    expect(index.deletion_protection, "disabled", "dense deletion protection")

    pc.create_index("sparse", metric="dotproduct", vector_type="sparse", spec=SPEC)
    index = pc.describe_index("sparse")
    expect((index.dimension, index.metric, index.vector_type), (None, "dotproduct", "sparse"), "sparse")


def create_pod(pc: Pinecone) -> None:
    pc.create_index(
        "pods", dimension=4, spec=PodSpec(environment="us-east-1-aws", pod_type="p1.x1", replicas=2)
    )
    pod = pc.describe_index("pods").spec.pod
    expect(pc.describe_index("pods").spec.serverless, None, "pod index has no serverless spec")
    expect(
        (pod.environment, pod.pod_type, pod.replicas, pod.shards, pod.pods),
        ("us-east-1-aws", "p1.x1", 2, 1, 2),
        "pod",
    )


def configure(pc: Pinecone) -> None:
    pc.configure_index("dense", tags={"env": "prod", "team": ""}, deletion_protection="enabled")
    index = pc.describe_index("dense")
    expect(index.tags, {"env": "prod"}, "tags after configure")
    expect(index.deletion_protection, "enabled", "deletion protection after configure")

    pc.configure_index("dense", serverless_read_capacity=DEDICATED)
    capacity = pc.describe_index("dense").spec.serverless.read_capacity
    expect(capacity["mode"], "Dedicated", "configured read capacity")
    expect(capacity["dedicated"]["manual"], {"shards": 2, "replicas": 1}, "configured dedicated scaling")
    expect(capacity["status"]["current_shards"], 2, "read capacity status")

    pc.configure_index("pods", replicas=3, pod_type="p1.x2")
    pod = pc.describe_index("pods").spec.pod
    expect((pod.replicas, pod.pod_type, pod.pods), (3, "p1.x2", 3), "pod after configure")
    expect(pc.describe_index("dense").dimension, 8, "dimension after configure")


def deletion_protection(pc: Pinecone) -> None:
    raised = expect_error(ForbiddenError, lambda: pc.delete_index("dense"), "deleting a protected index")
    expect(getattr(raised, "status_code", None), 403, "status of deleting a protected index")
    expect(pc.has_index("dense"), True, "protected index still exists")
    pc.configure_index("dense", deletion_protection="disabled")
    pc.delete_index("dense")
    expect(pc.has_index("dense"), False, "deleted index exists")
    expect_error(NotFoundError, lambda: pc.describe_index("dense"), "describing a deleted index")


def errors(pc: Pinecone) -> None:
    expect_error(ConflictError, lambda: pc.create_index("sparse", dimension=8, spec=SPEC), "duplicate name")
    expect_error(NotFoundError, lambda: pc.describe_index("never-made"), "describing an unknown index")
    expect_error(NotFoundError, lambda: pc.delete_index("never-made"), "deleting an unknown index")


def leave_index_for_sdk10(pc: Pinecone) -> None:
    pc.create_index(
        LEFT_FOR_SDK10,
        dimension=8,
        metric="dotproduct",
        spec=SPEC,
        deletion_protection="enabled",
        tags={"made-by": "sdk9"},
    )


def list_everything(pc: Pinecone, sdk10_index: str | None) -> None:
    expected = sorted(["sparse", "pods", LEFT_FOR_SDK10, *([sdk10_index] if sdk10_index else [])])
    expect(sorted(pc.list_indexes().names()), expected, "listed index names")
    expect(sorted(index.name for index in pc.list_indexes()), expected, "listed index models")


def main(argv: list[str]) -> int:
    if len(argv) not in (2, 3):
        print(f"usage: {argv[0]} SERVER_URL [INDEX_CREATED_BY_SDK10]", file=sys.stderr)
        return 2
    url, sdk10_index = argv[1], (argv[2] if len(argv) == 3 else None)
    if not pinecone.__version__.startswith("9."):
        print(f"FAILED: this scenario needs pinecone 9.x, found {pinecone.__version__}", file=sys.stderr)
        return 1
    pc = Pinecone(api_key="test-key", host=url)
    steps: list[tuple[str, Callable[[], None]]] = [
        ("create serverless indexes", lambda: create_serverless(pc, url)),
        ("create a pod index", lambda: create_pod(pc)),
        ("configure", lambda: configure(pc)),
        ("deletion protection", lambda: deletion_protection(pc)),
        ("errors", lambda: errors(pc)),
        ("leave an index for SDK 10", lambda: leave_index_for_sdk10(pc)),
        ("list", lambda: list_everything(pc, sdk10_index)),
    ]
    if sdk10_index:
        steps.insert(0, ("describe the index SDK 10 created", lambda: describe_sdk10_index(pc, sdk10_index)))
    for label, step in steps:
        try:
            step()
        except ScenarioFailure as failure:
            print(f"FAILED at step {label!r}: {failure}", file=sys.stderr)
            return 1
        except Exception:
            print(
                f"FAILED at step {label!r} with an unexpected error:\n{traceback.format_exc()}",
                file=sys.stderr,
            )
            return 1
        print(f"ok: {label}")
    print(f"all {len(steps)} steps passed with pinecone {pinecone.__version__}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
