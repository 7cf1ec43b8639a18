"""Integrated-embedding indexes through the 9.x SDK (classic 2025-10 dialect).

Runs under the SDK-9 environment (``.venv-sdk9``) and imports nothing from the project::

    .venv-sdk9/bin/python tests/server/sdk9_integrated_scenario.py http://127.0.0.1:5080

Expects an index ``made-by-sdk10`` made beforehand through SDK 10.x (llama-text-embed-v2, dimension 768,
dotproduct, text field ``chunk_text``) and checks how 9.x describes it. Then creates ``made-by-sdk9``
(multilingual-e5-large, text field ``body``), upserts and searches text, and configures its read parameters.
Exits 0 when everything holds, 1 with the failing step otherwise.
"""

from __future__ import annotations

import json
import sys
import traceback
import urllib.request
from typing import Any

import pinecone
from pinecone import Pinecone

STAND_IN = "local stand-in"


class ScenarioFailure(Exception):
    pass


def expect(actual: Any, expected: Any, what: str) -> None:
    if actual != expected:
        raise ScenarioFailure(f"{what}: expected {expected!r}, got {actual!r}")


def raw_describe(url: str, name: str) -> dict[str, Any]:
    request = urllib.request.Request(
        f"{url}/indexes/{name}", headers={"Api-Key": "test-key", "X-Pinecone-Api-Version": "2025-10"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        body: dict[str, Any] = json.loads(response.read())
    return body


def main(url: str) -> int:
    pc = Pinecone(api_key="test-key", host=url)
    step = "describe the SDK 10 index"
    try:
        theirs = pc.describe_index("made-by-sdk10")
        expect((theirs.dimension, theirs.metric, theirs.vector_type), (768, "dotproduct", "dense"), step)
        expect(
            (theirs.embed.model, theirs.embed.field_map),
            ("llama-text-embed-v2", {"text": "chunk_text"}),
            step,
        )
        expect(theirs.embed.dimension, 768, step)

        step = "create for a model"
        pc.create_index_for_model(
            name="made-by-sdk9",
            cloud="aws",
            region="us-east-1",
            embed={"model": "multilingual-e5-large", "field_map": {"text": "body"}},
        )
        mine = pc.describe_index("made-by-sdk9")
        expect((mine.dimension, mine.metric, mine.embed.vector_type), (1024, "cosine", "dense"), step)
        # SDK 9 drops keys it does not know, so the stand-in's name is read from the raw 2025-10 reply.
        raw = raw_describe(url, "made-by-sdk9")
        if STAND_IN not in raw["embed"].get("description", ""):
            raise ScenarioFailure(f"{step}: the stand-in is not named in {raw['embed']}")

        step = "upsert and search text"
        index = pc.Index(host=mine.host)
        index.upsert_records(
            namespace="ns",
            records=[
                {"_id": "a", "body": "red apples and green pears", "kind": "fruit"},
                {"_id": "b", "body": "engines, gearboxes and brakes", "kind": "car"},
            ],
        )
        found = index.search_records(namespace="ns", query={"top_k": 1, "inputs": {"text": "green pears"}})
        expect(found.result.hits[0].id, "a", step)
        expect(
            dict(found.result.hits[0].fields), {"body": "red apples and green pears", "kind": "fruit"}, step
        )

        step = "configure the embedding's read parameters"
        pc.configure_index(
            "made-by-sdk9", embed={"read_parameters": {"input_type": "query", "truncate": "END"}}
        )
        expect(
            pc.describe_index("made-by-sdk9").embed.read_parameters,
            {"input_type": "query", "truncate": "END"},
            step,
        )
    except Exception as error:  # any failure is reported with its step
        print(f"step failed: {step}: {error}")
        traceback.print_exc()
        return 1
    print(f"all steps passed with pinecone {pinecone.__version__}.")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
