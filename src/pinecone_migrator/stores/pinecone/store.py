"""A Pinecone index as a store: the control plane through the official SDK (the only module that imports
it), records through the REST data plane directly (see :mod:`.rest` for why).

Retries: every call is retried with jittered exponential backoff within a time budget, because a migration
must outlast longer outages than the SDK's few seconds (the SDK's own retries are turned off, so that one
policy decides). A batch the target refuses for its content (400/413/422) is not retried: it is reported as
:class:`RecordsRejected` so the engine can find the records at fault. A refused API key (401/403) is bad
input, reported at once; so is an index, import or backup that does not exist where a user named it.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

from ...errors import RecordsRejected, RemoteError, UserError
from ...records import Record, SparseValues
from ..base import (
    DEFAULT_NAMESPACE,
    Capabilities,
    IdPage,
    IndexShape,
    Match,
    RecordPage,
    StoreDescription,
    WriteAck,
)
from .pacing import PacingSettings, lift_reads, reopened, travelling
from .rest import RestTransport, encode_record, fetch_batches, message_of
from .retry import DENIED_STATUSES, FIRST_CONTACT, REFUSED_STATUSES, RETRYABLE_STATUSES, RetryPolicy
from .transport import Pacer, Transport, Unpaced, Written

T = TypeVar("T")
READY_TIMEOUT_SECONDS = 900
# Pinecone takes at most 2 MB per upsert (read as 2,000,000 bytes, below 2 MiB in case MB is decimal).
# request_size() counts each record's encoding and its comma, not the body's envelope
# ({"vectors":[...],"namespace":"..."}, a few KB at most with a 512-character namespace): the records'
# budget leaves room for it.
UPSERT_RECORD_BYTES = 2_000_000 - 50_000
# A create that timed out waiting for readiness is not sent again (the index exists by then).
CREATE_RETRY = RetryPolicy(attempts=3, base_seconds=1.0, max_seconds=5.0, budget_seconds=60.0)

__all__ = ["PineconeStore", "RetryPolicy", "Side", "fetch_batches", "wire_namespace"]


@dataclass(frozen=True)
class Side:
    """Which end of a command an index is, only for messages: they name the options to check."""

    role: str  # "source" or "target"
    key_env: str | None = None  # the environment variable the API key was read from

    def key_advice(self) -> str:
        option = f"--{self.role}-api-key-env"
        return (
            f"the variable {self.key_env} (named by {option})"
            if self.key_env
            else f"the variable {option} names"
        )

    def host_option(self) -> str:
        return f"--{self.role}-host"


def key_advice(side: Side | None) -> str:
    if side is None:
        return "the variable named by --source-api-key-env or --target-api-key-env, whichever this index is"
    return side.key_advice()


def wire_namespace(namespace: str) -> str:
    """The namespace as sent on the wire: the default namespace is the empty string."""
    return "" if namespace == DEFAULT_NAMESPACE else namespace


class PineconeStore:
    """One index of one project. ``control_host`` None means Pinecone's cloud."""

    def __init__(
        self,
        index_name: str,
        api_key: str,
        control_host: str | None = None,
        retry: RetryPolicy | None = None,
        seed: int | None = None,
        *,
        side: Side | None = None,
        contacted: bool = False,
        transport: str = "rest",
        pacer: Pacer | None = None,
    ) -> None:
        """``transport``: "rest" or "grpc" for the data plane; ``pacer``: keeps requests under rate limits
        (None: unpaced)."""
        self.index_name = index_name
        self.side = side
        self._control_host = control_host
        self._client = _client(api_key, control_host, side)
        self._retry = retry or RetryPolicy()
        # Whether the control plane has answered once (a connection failure before that means a wrong host).
        self._contacted = contacted
        self._rng = random.Random(seed)
        self._api_key = api_key
        self._rng_lock = threading.Lock()
        self._throttle_listener: Callable[[], None] | None = None
        self.transport_name = transport
        self.pacer: Pacer = pacer or Unpaced()
        # Byte budgets are paced only when the pacer counts bytes (sizing a batch again costs CPU).
        self._paces_bytes = not isinstance(self.pacer, Unpaced)
        self._transport: Transport | None = None
        self._transport_lock = threading.Lock()
        self._description: Any = None
        self._written_lsn: dict[str, int] = {}
        self._lsn_lock = threading.Lock()

    def __reduce__(self) -> tuple[Any, ...]:
        """What another process (a verify's scan worker) needs to open the same index: its name, key, host,
        retry policy and pacing settings; no connection or cached state travels. The key only crosses the
        pipe to our own child process."""
        return (_reopened, (self.index_name, self._api_key, self._control_host, self._retry, self.side,
                            self._contacted, self.transport_name, travelling(self.pacer)))  # fmt: skip

    # -- what messages say -----------------------------------------------------------------------------------

    @property
    def host_name(self) -> str:
        return self._control_host or "Pinecone's cloud (api.pinecone.io)"

    def where(self) -> str:
        """``source index 'x' at http://host``: the index as the user named it."""
        kind = "index" if self.side is None else f"{self.side.role} index"
        return f"{kind} {self.index_name!r} at {self.host_name}"

    def _check_names(self) -> str:
        if self.side is None:
            return "Check the index name and host options"
        return f"Check --{self.side.role}-index and {self.side.host_option()}"

    def missing(self) -> UserError:
        return UserError(f"The {self.where()} does not exist. {self._check_names()}.")

    def denied(self, status: int, message: str, host: str | None = None) -> UserError:
        """A 401/403: the key is wrong, or lacks a permission; the key itself is never shown."""
        at = "" if host is None else f" (its data plane, {host})"
        kind = "index" if self.side is None else f"{self.side.role} index"
        subject = f"The {kind} {self.index_name!r} at {self.host_name}{at}"
        advice = key_advice(self.side)
        if status == 401:
            return UserError(
                f"{subject} refused the API key ({message}). Check the key in {advice}: it must be a key of "
                "the project that holds this index."
            )
        return UserError(
            f"{subject} denied the operation to the API key ({message}). Check that the key in {advice} has "
            "the permission for it (a read-only key cannot write or create)."
        )

    def _unreachable(self, operation: str, error: Exception) -> RemoteError:
        """A connection failure: before the host ever answered, most likely a wrong host; after, an outage."""
        if self._contacted:
            message = f"lost the connection to the control plane of the {self.where()} ({error})"
            advice = "Run the same command again to resume once it answers."
        else:
            message = f"could not connect to the control plane of the {self.where()} ({error})"
            if self._control_host is None:
                advice = "Check the network (or the proxy), then run the same command again."
            elif self.side is None:
                advice = "Check the host option (--source-host or --target-host), then run the command again."
            else:
                advice = f"Check {self.side.host_option()}, then run the same command again."
        return RemoteError(operation, f"{message}. {advice}", retryable=True)

    def _not_pinecone(self, operation: str, answer: str) -> UserError:
        return UserError(
            f"{self.host_name} did not answer {operation} as Pinecone's API does ({answer}); it is not the "
            f"control plane of the {self.where()}. {self._check_names()}: the host is the project's "
            "control-plane URL."
        )

    # -- calls with retries --------------------------------------------------------------------------------

    def _call(
        self,
        operation: str,
        call: Callable[[], T],
        *,
        refusable: bool = False,
        retry: RetryPolicy | None = None,
        not_found: Callable[[], UserError] | None = None,
    ) -> T:
        """``not_found``: what a 404 means here, when it means that the user named something that does not
        exist (an index, an import, a backup); otherwise a 404 is a remote failure."""
        from pinecone.errors.exceptions import (
            ApiError,
            NotFoundError,
            PineconeConnectionError,
            PineconeTimeoutError,
            PineconeTypeError,
            PineconeValueError,
            ResponseParsingError,
        )

        started = time.monotonic()
        retries = 0
        while True:
            policy = retry or self._retry
            try:
                result = call()
                self._contacted = True
                return result
            except (PineconeValueError, PineconeTypeError) as error:
                # The SDK refused to send it: in a write the records are at fault (e.g. a non-ASCII ID),
                # anywhere else the request we built from the user's input.
                if refusable:
                    raise RecordsRejected(operation, str(error)) from None
                raise UserError(f"{operation} (index {self.index_name!r}): {error}") from None
            except NotFoundError:
                self._contacted = True
                if not_found is not None:
                    raise not_found() from None
                raise RemoteError(
                    operation,
                    f"index {self.index_name!r} or its namespace was not found",
                    status=404,
                    retryable=False,
                ) from None
            except ApiError as error:
                self._contacted = True
                status = error.status_code
                if status in DENIED_STATUSES:
                    raise self.denied(status, _message(error)) from None
                if refusable and status in REFUSED_STATUSES:
                    raise RecordsRejected(operation, _message(error), status) from None
                if status not in RETRYABLE_STATUSES:
                    raise RemoteError(operation, _message(error), status=status, retryable=False) from None
                failure: RemoteError = RemoteError(operation, _message(error), status=status, retryable=True)
            except ResponseParsingError as error:
                # From a host that never answered well: a wrong host. Later: something in between (a proxy's
                # error page), worth another try.
                answer = _first_line(error)
                if not self._contacted:
                    raise self._not_pinecone(operation, answer) from None
                failure = RemoteError(operation, f"not Pinecone's API: {answer}", retryable=True)
            except (PineconeConnectionError, PineconeTimeoutError) as error:
                failure = self._unreachable(operation, error)
                if not self._contacted:
                    policy = FIRST_CONTACT
            delay = policy.delay(retries, self._rng)
            if delay is None or time.monotonic() - started + delay > policy.budget_seconds:
                raise failure
            retries += 1
            time.sleep(delay)

    def call(
        self, operation: str, call: Callable[[], T], *, not_found: Callable[[], UserError] | None = None
    ) -> T:
        """An SDK call with this store's retries and error translation (for control-plane jobs)."""
        return self._call(operation, call, not_found=not_found)

    @property
    def client(self) -> Any:
        """The SDK client of this store's project."""
        return self._client

    def sdk_index(self) -> Any:
        """The SDK's handle on this index's data plane (for bulk imports)."""
        host = self._describe_raw().host
        return self._client.index(host=host)

    @property
    def transport(self) -> Transport:
        """The index host's data plane (opened on first use, from the index's description)."""
        if self._transport is None:
            with self._transport_lock:
                if self._transport is None:
                    self._transport = self._open_transport()
        return self._transport

    def _open_transport(self) -> Transport:
        description = self._describe_raw()
        if self.transport_name == "grpc":
            from .grpc_transport import open_grpc_transport

            return open_grpc_transport(description, self._api_key, self._control_host, denied=self.denied)
        return RestTransport(description.host, self._api_key, denied=self.denied)

    def _send(self, operation: str, namespace: str, attempt: Callable[[], T], *, records: int = 1,
              nbytes: int = 0) -> T:  # fmt: skip
        """One data-plane request: paced under the rate limits, retried on 408/429/5xx and connection
        problems with jittered backoff within the retry budget (at least as long as a Retry-After asks)."""
        started = time.monotonic()
        retries = 0
        while True:
            self.pacer.wait(operation, namespace, records=records, nbytes=nbytes)
            try:
                return attempt()
            except RemoteError as failure:
                if not failure.retryable:
                    raise
                if failure.status == 429:
                    self.pacer.throttled(operation, namespace)
                    self._throttled()
                with self._rng_lock:
                    delay = self._retry.delay(retries, self._rng)
                if delay is None:
                    raise
                delay = max(delay, min(failure.retry_after or 0.0, self._retry.max_seconds))
                if time.monotonic() - started + delay > self._retry.budget_seconds:
                    raise
                retries += 1
                time.sleep(delay)

    def set_throttle_listener(self, listener: Callable[[], None] | None) -> None:
        self._throttle_listener = listener

    def _throttled(self) -> None:
        listener = self._throttle_listener
        if listener is not None:
            listener()

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    def _describe_raw(self) -> Any:
        if self._description is None:
            self._description = self._call(
                "describe index", lambda: self._client.describe_index(self.index_name), not_found=self.missing
            )
            if _dedicated_reads(self._description):
                lift_reads(self.pacer)
        return self._description

    # -- the store protocol --------------------------------------------------------------------------------

    def exists(self) -> bool:
        return bool(
            self._call(
                "list indexes",
                lambda: self.index_name in self._client.list_indexes().names(),
                not_found=self._not_a_control_plane,
            )
        )

    def _not_a_control_plane(self) -> UserError:
        return UserError(
            f"{self.host_name} answered 404 Not Found to a list of its indexes: it is not a Pinecone control "
            f"plane (for the {self.where()}). {self._check_names()}: the host is the project's control-plane "
            "URL, not an index host."
        )

    def describe(self) -> StoreDescription:
        model = self._describe_raw()
        stats = self._send("describe_index_stats", "", lambda: self.transport.describe_index_stats())
        deployment = model.deployment
        return StoreDescription(
            name=model.name,
            shape=_shape(model, stats),
            namespace_counts={
                (ns or DEFAULT_NAMESPACE): int(summary.get("vectorCount", 0))
                for ns, summary in (stats.get("namespaces") or {}).items()
            },
            cloud=getattr(deployment, "cloud", None),
            region=getattr(deployment, "region", None),
            tags=dict(model.tags or {}),
            deployment_type=type(deployment).__name__.removesuffix("Deployment").lower(),
            location=model.host,
            dedicated_read_nodes=_dedicated_reads(model),
            embed=_embed(model),
        )

    def capabilities(self) -> Capabilities:
        if self._description is None and not self.exists():
            # What an index created here would take (a plan before the target exists): serverless.
            return Capabilities(max_write_bytes=UPSERT_RECORD_BYTES)
        pod = type(self._describe_raw().deployment).__name__ == "PodDeployment"
        # Pinecone's fetch_by_metadata, like list, is a serverless-index operation.
        return Capabilities(
            can_list=not pod, can_fetch_by_metadata=not pod, max_write_bytes=UPSERT_RECORD_BYTES
        )

    def list_ids(
        self, namespace: str, *, prefix: str = "", cursor: str | None = None, limit: int = 100
    ) -> IdPage:
        wire = wire_namespace(namespace)
        return self._send("list", wire, lambda: self.transport.list_ids(wire, prefix, cursor, limit))

    def fetch(self, namespace: str, ids: Sequence[str]) -> list[Record]:
        wire = wire_namespace(namespace)
        found: list[Record] = []
        for batch in self.transport.fetch_batches(ids):
            found += self._send("fetch", wire, partial(self.transport.fetch, wire, batch))
        return found

    def fetch_by_metadata(
        self, namespace: str, metadata_filter: dict[str, Any], *, cursor: str | None = None, limit: int = 100
    ) -> RecordPage:
        wire = wire_namespace(namespace)
        return self._send(
            "fetch_by_metadata",
            wire,
            lambda: self.transport.fetch_by_metadata(wire, metadata_filter, cursor, limit),
        )

    def query(self, namespace: str, record: Record, top_k: int) -> list[Match]:
        """The ``top_k`` nearest records to ``record``'s dense and/or sparse vector."""
        wire = wire_namespace(namespace)
        return self._send(
            "query",
            wire,
            lambda: self.transport.query(wire, top_k=top_k, vector=record.values, sparse=record.sparse),
        )

    def query_ids(
        self,
        namespace: str,
        *,
        top_k: int,
        vector: Any = None,
        sparse: SparseValues | None = None,
        metadata_filter: dict[str, Any] | None = None,
    ) -> list[str]:
        """IDs of the ``top_k`` best matches, best first, for a dense and/or sparse query vector (a float32
        array or list) and an optional metadata filter. Used to sweep sources that cannot list (pods)."""
        wire = wire_namespace(namespace)
        matches = self._send(
            "query",
            wire,
            lambda: self.transport.query(
                wire, top_k=top_k, vector=vector, sparse=sparse, metadata_filter=metadata_filter
            ),
        )
        return [match.id for match in matches]

    def request_size(self, record: Record) -> int:
        if self._transport is None and self._description is None and not self.exists():
            # A plan before the index exists: sized as the REST encoding an index created here would take.
            return len(encode_record(record)) + 1
        return self.transport.request_size(record)

    def write(self, namespace: str, records: Sequence[Record]) -> WriteAck:
        wire = wire_namespace(namespace)
        nbytes = sum(self.transport.request_size(r) for r in records) if self._paces_bytes else 0
        written = self._send(
            "upsert", wire, partial(self.transport.upsert, wire, records), records=len(records), nbytes=nbytes
        )
        return self._acknowledged(namespace, written)

    def delete(self, namespace: str, ids: Sequence[str]) -> WriteAck:
        if not ids:
            return WriteAck(count=0)
        wire = wire_namespace(namespace)
        written = self._send("delete", wire, partial(self.transport.delete, wire, ids), records=len(ids))
        return self._acknowledged(namespace, written)

    def update_metadata(self, namespace: str, record_id: str, set_metadata: dict[str, Any]) -> WriteAck:
        """Merge ``set_metadata`` into one record's metadata (Pinecone's update by ID: values, sparse values
        and other keys stay as they are, so writes the application makes meanwhile are kept)."""
        wire = wire_namespace(namespace)
        written = self._send(
            "update", wire, partial(self.transport.update_metadata, wire, record_id, set_metadata)
        )
        return self._acknowledged(namespace, written)

    def _acknowledged(self, namespace: str, written: Written) -> WriteAck:
        if written.lsn is not None:
            with self._lsn_lock:
                self._written_lsn[namespace] = max(written.lsn, self._written_lsn.get(namespace, 0))
        return WriteAck(count=written.count, lsn=written.lsn)

    # -- freshness -----------------------------------------------------------------------------------------

    def written_lsns(self) -> dict[str, int]:
        """Per namespace, the highest LSN this store object's writes were acknowledged with."""
        with self._lsn_lock:
            return dict(self._written_lsn)

    def indexed_lsn(self, namespace: str) -> int | None:
        """The highest LSN visible to reads (Pinecone's ``x-pinecone-max-indexed-lsn``, from a cheap read);
        None when the server does not send it."""
        wire = wire_namespace(namespace)
        return self._send("list", wire, lambda: self.transport.indexed_lsn(wire))

    def wait_until_indexed(self, namespace: str, until_lsn: int, timeout_seconds: float) -> bool | None:
        """Wait (polling with backoff) until reads see every write up to ``until_lsn``.

        True when they do, False when the timeout ran out first, None when the server reports no LSNs.
        """
        deadline = time.monotonic() + timeout_seconds
        delay = 0.05
        while True:
            visible = self.indexed_lsn(namespace)
            if visible is None:
                return None
            if visible >= until_lsn:
                return True
            if time.monotonic() + delay > deadline:
                return False
            time.sleep(delay)
            delay = min(delay * 2, 2.0)

    # -- creating a target ---------------------------------------------------------------------------------

    def create_like(
        self,
        source: StoreDescription,
        *,
        cloud: str | None = None,
        region: str | None = None,
        deletion_protection: bool = False,
        read_capacity: dict[str, Any] | None = None,
    ) -> None:
        """Create this index with the source's dimension, metric, vector type, tags and, for an integrated
        index, its embedding model and configuration; wait until ready."""
        if self.transport_name == "grpc":
            from .grpc_transport import check_grpc_served

            check_grpc_served(self._control_host, self._api_key)  # refused before anything is created
        where = {"cloud": cloud or source.cloud or "aws", "region": region or source.region or "us-east-1"}
        kwargs: dict[str, Any] = {
            "name": self.index_name,
            "deletion_protection": "enabled" if deletion_protection else "disabled",
            # The SDK polls until the index is ready; bounded, so that a stuck index is reported.
            "timeout": READY_TIMEOUT_SECONDS,
        }
        if source.tags:
            kwargs["tags"] = source.tags
        if read_capacity is not None:
            kwargs["read_capacity"] = read_capacity
        if source.embed is not None:
            # Same model and field map, so that text searches on the target embed as they did on the source.
            kwargs.update(where, embed=_embed_request(source))
            create = self._client.indexes.create_for_model
        else:
            kwargs.update(_vector_kwargs(source.shape, where))
            # indexes.create (not the create_index shim) is the surface that accepts read_capacity.
            create = self._client.indexes.create
        try:
            self._call("create index", lambda: create(**kwargs), retry=CREATE_RETRY)
        except RemoteError as error:
            if error.status in (400, 422):
                raise UserError(f"Pinecone refused to create index {self.index_name!r}: {error}") from None
            if error.status == 409 and self.exists():
                pass  # an earlier attempt of ours (or someone else) created it: it is checked like any target
            elif error.retryable and error.status is None:
                raise RemoteError(
                    "create index",
                    f"index {self.index_name!r} was not ready within {READY_TIMEOUT_SECONDS} s "
                    f"({error}). Check it in the Pinecone console, then run the same command again: "
                    "an existing compatible target is used as it is",
                    retryable=True,
                ) from None
            else:
                raise
        self._description = None


def _shape(model: Any, stats: dict[str, Any]) -> IndexShape:
    """The index's shape from its description, or from its stats where the description has none: an
    integrated index's ``semantic_text`` field (API 2026-07) reports neither dimension nor vector type."""
    vector_type = getattr(model, "vector_type", None) or stats.get("vectorType") or "dense"
    metric = str(getattr(model, "metric", None) or stats.get("metric") or "")
    try:
        dimension = model.dimension
    except AttributeError:
        dimension = stats.get("dimension")
    return IndexShape(vector_type=vector_type, metric=metric, dimension=dimension)


EMBED_KEYS = ("model", "metric", "field_map", "read_parameters", "write_parameters")


def _embed(model: Any) -> dict[str, Any] | None:
    """An integrated index's embedding configuration (model, metric, field map, read/write parameters)."""
    embed = getattr(model, "embed", None)
    if embed is None:
        return None
    found = {key: getattr(embed, key, None) for key in EMBED_KEYS}
    return {key: value for key, value in found.items() if value is not None}


def _embed_request(source: StoreDescription) -> dict[str, Any]:
    assert source.embed is not None
    request = dict(source.embed)
    if source.shape.dimension is not None:
        request["dimension"] = source.shape.dimension  # a model with several dimensions keeps the source's
    return request


def _vector_kwargs(shape: IndexShape, where: dict[str, str]) -> dict[str, Any]:
    from pinecone import ServerlessSpec

    kwargs: dict[str, Any] = {
        "metric": shape.metric,
        "spec": ServerlessSpec(cloud=where["cloud"], region=where["region"]),
        "vector_type": shape.vector_type,
    }
    if shape.dimension is not None:
        kwargs["dimension"] = shape.dimension
    return kwargs


def _client(api_key: str, control_host: str | None, side: Side | None) -> Any:
    from pinecone import Pinecone, RetryConfig
    from pinecone.errors.exceptions import PineconeValueError

    # No retries in the SDK: this store's policy decides (a wrong host fails fast, an outage is outlasted).
    no_retries = RetryConfig(max_retries=0)
    try:
        if control_host:
            return Pinecone(api_key=api_key, host=control_host, retry_config=no_retries)
        return Pinecone(api_key=api_key, retry_config=no_retries)
    except PineconeValueError:
        raise UserError(
            f"The API key in {key_advice(side)} cannot be sent: it is blank, has spaces or a newline around "
            "it (read from a file?), or holds a control or non-ASCII character. Strip it and run again."
        ) from None


def _reopened(
    index_name: str,
    api_key: str,
    control_host: str | None,
    retry: RetryPolicy,
    side: Side | None,
    contacted: bool,
    transport: str,
    pacing: PacingSettings | None = None,
) -> PineconeStore:
    pacer = reopened(pacing, index_name)
    return PineconeStore(
        index_name,
        api_key,
        control_host,
        retry,
        side=side,
        contacted=contacted,
        transport=transport,
        pacer=pacer,
    )


def _dedicated_reads(model: Any) -> bool:
    """Whether the index runs on dedicated read nodes (which have no read rate limits)."""
    return getattr(getattr(model, "read_capacity", None), "dedicated", None) is not None


def _first_line(error: Exception) -> str:
    lines = str(error).strip().splitlines()
    return lines[0][:200] if lines else type(error).__name__


def _message(error: Any) -> str:
    body = getattr(error, "body", None)
    if isinstance(body, dict):
        return message_of(error.status_code, body, str(error))
    return str(error)
