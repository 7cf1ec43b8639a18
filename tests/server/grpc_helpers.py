"""Reaching the local server's gRPC data plane through the official SDK's GrpcIndex (and a raw channel)."""

from __future__ import annotations

import warnings
from typing import Any

import grpc
from pinecone import RetryConfig
from pinecone.grpc import GrpcIndex

from pinecone_migrator.server.runner import BackgroundServer
from tests.serverproc import ServerProcess


def grpc_index(
    server: ServerProcess | BackgroundServer, name: str, api_key: str = "k", retries: int = 0
) -> GrpcIndex:
    """The SDK's gRPC client for one index; no retries unless asked, so that errors show at once."""
    hosts = server.grpc_hosts() if isinstance(server, ServerProcess) else server.state.grpc_hosts
    host = hosts[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # plaintext gRPC on loopback is what we mean
        return GrpcIndex(
            host=f"http://{host}",
            api_key=api_key,
            grpc_scheme="http",
            secure=False,
            retry_config=RetryConfig(max_retries=retries, backoff_factor=0.05, max_wait=0.2),
        )


def plain(vector: Any) -> dict[str, Any]:
    """A fetched or matched vector of either client as plain data."""
    sparse = vector.sparse_values
    return {
        "id": vector.id,
        "values": list(vector.values or []),
        "sparse": None if sparse is None else (list(sparse.indices), list(sparse.values)),
        "metadata": vector.metadata or None,
    }


def raw_call(
    host: str, method: str, request: Any, reply_type: Any, api_key: str = "k"
) -> tuple[Any, dict[str, str]]:
    """One call on a plain grpcio channel: the reply and the initial metadata (where the LSNs are)."""
    with grpc.insecure_channel(host) as channel:
        stub = channel.unary_unary(
            f"/VectorService/{method}",
            request_serializer=type(request).SerializeToString,
            response_deserializer=reply_type.FromString,
        )
        reply, call = stub.with_call(request, metadata=(("api-key", api_key),), timeout=10)
        return reply, dict(call.initial_metadata())
