"""Options shared by migrate, plan and verify, and the request they describe.

Every option is also a key of a JSON config file (``--config``); flags win over the environment
(``PINECONE_MIGRATOR_<COMMAND>_<OPTION>``), which wins over the file.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from .common import FC, api_key, apply_options, filter_option, host_url, namespace_name, namespace_pairs

if TYPE_CHECKING:
    from ..engine.request import Endpoint, MigrationRequest
    from ..stores.base import Store
    from ..stores.pinecone.store import PineconeStore
    from ..stores.registry import Side


def _load_config_file(context: click.Context, param: click.Parameter, value: Path | None) -> None:
    """Eager: a config file supplies defaults before the other options are read (flags and env still win)."""
    from ..config import load_config, looks_like_ours
    from ..errors import MigratorError

    path = value
    if path is None:
        default = Path("config.json")
        if not default.is_file():
            return
        if not looks_like_ours(default):
            click.echo("note: ignoring ./config.json: it holds no pinecone-migrator settings.", err=True)
            return
        path = default
    try:
        loaded = load_config(path, context.info_name)
    except MigratorError as error:
        raise click.UsageError(str(error)) from None
    for warning in loaded.warnings:
        click.echo(f"warning: {warning}", err=True)
    context.default_map = {**(context.default_map or {}), **loaded.defaults}
    context.meta["config_secrets"] = loaded.secrets


def _shards(context: click.Context, param: click.Parameter, value: str) -> int | None:
    """auto → None (the engine decides), off → 1, N → N."""
    if value == "auto":
        return None
    if value == "off":
        return 1
    if value.isdigit() and 1 <= int(value) <= 256:
        return int(value)
    raise click.BadParameter("use auto, off, or a number of shards from 1 to 256.")


SHARDS_OPTION = click.option(
    "--shards",
    default="auto",
    show_default=True,
    callback=_shards,
    help="Split each namespace into this many ID-prefix shards listed in parallel: auto (a namespace whose "
    "listing alone would take 20 s or more at the measured round trip), off, or N.",
)

CONFIG_OPTION = click.option(
    "--config",
    type=click.Path(dir_okay=False, path_type=Path),
    is_eager=True,
    expose_value=False,
    callback=_load_config_file,
    help="JSON file of settings (default: ./config.json if present; the original script's keys work).",
)
STORE_URI_HELP = (
    "(postgresql://user@host:5432/db?table=items, qdrant://host:6333/collection, chroma://host:8000/, "
    "milvus://host:19530/collection or milvus:///path/file.db?collection=items, lancedb:///path?table=items, "
    "pinecone://index-name); the README's 'Other databases' section lists each kind's options."
)
SOURCE_INDEX_OPTIONS: list[Callable[[Any], Any]] = [
    click.option("--source-index", default=None, help="Pinecone index to copy from (or --source URI)."),
    click.option(
        "--source",
        "source",
        default=None,
        metavar="URI",
        help="Another database (or pinecone://index) to read from, instead of --source-index "
        + STORE_URI_HELP,
    ),
    click.option(
        "--source-host",
        default=None,
        callback=host_url,
        help="Control-plane URL of the source (default: Pinecone's cloud).",
    ),
    click.option("--source-api-key-env", default="PINECONE_API_KEY", show_default=True, metavar="VAR"),
    click.option(
        "--accept-incomplete-sweep",
        is_flag=True,
        help="A pod-based source (no list) is enumerated by query sweeps: copy what they found even when "
        "they cannot prove they found every record.",
    ),
]
TARGET_INDEX_OPTIONS: list[Callable[[Any], Any]] = [
    click.option(
        "--target-index",
        default=None,
        help="The target index (a command that copies into it creates it when missing, unless "
        "--no-create-target). Or --target URI.",
    ),
    click.option(
        "--target-host",
        default=None,
        callback=host_url,
        help="Control-plane URL of the target (default: --source-host where the command has one, else "
        "Pinecone's cloud).",
    ),
    click.option("--target-api-key-env", default=None, metavar="VAR", help="Default: the source's variable."),
    click.option(
        "--target",
        "target",
        default=None,
        metavar="URI",
        help="Another database (or pinecone://index) to write to or compare with, instead of --target-index "
        + STORE_URI_HELP,
    ),
]
# Which records and namespaces go where: what migrate copies, verify compares, export writes.
ROUTING_OPTIONS: list[Callable[[Any], Any]] = [
    click.option(
        "--namespace",
        "namespaces",
        multiple=True,
        help="Only this namespace (repeatable; __default__ is the default one).",
    ),
    click.option("--target-namespace", default=None, help="Every selected namespace goes into this one."),
    click.option(
        "--namespace-map", "namespace_map", multiple=True, metavar="SRC=DST", help="Rename (repeatable)."
    ),
    click.option(
        "--allow-merge", is_flag=True, help="Allow several source namespaces into one target namespace."
    ),
    click.option(
        "--namespace-from-metadata",
        default=None,
        metavar="FIELD",
        help="Route each record to the namespace named by this metadata field (one namespace per tenant).",
    ),
    click.option(
        "--fallback-namespace",
        default=None,
        help="With --namespace-from-metadata: where records without a usable field go (else: dead letters).",
    ),
    click.option(
        "--clean-namespace-names",
        is_flag=True,
        help="With --namespace-from-metadata: make each value an ASCII name first, as the original script "
        "did ('café 12' -> 'cafe_12'); a value that cleans to nothing goes to --fallback-namespace.",
    ),
    click.option(
        "--namespace-to-metadata",
        default=None,
        metavar="FIELD",
        help="Fold: with --target-namespace, every selected namespace goes into that one and each record "
        "keeps its source namespace in this metadata field (--namespace-from-metadata FIELD undoes it). "
        "Refused if an ID occurs in two namespaces; a record already holding another value in FIELD is a "
        "dead letter.",
    ),
    click.option(
        "--drop-namespace-field",
        is_flag=True,
        help="With --namespace-from-metadata: remove that field from the written records (undoes a "
        "--namespace-to-metadata fold exactly).",
    ),
    click.option(
        "--filter", "filter_json", default=None, metavar="JSON", help="Only records matching this filter."
    ),
]
RUN_OPTIONS: list[Callable[[Any], Any]] = [
    click.option(
        "--state", type=click.Path(dir_okay=False, path_type=Path), default=None, help="Ledger file."
    ),
    click.option(
        "--concurrency",
        type=click.IntRange(1, 64),
        default=None,
        help="Batches and requests in flight per index. Default: automatic — starts at 4 and grows while "
        "throughput grows (dozens at 80 ms of latency), halves on 429, stays within memory. A number fixes "
        "it (still halved on 429).",
    ),
    click.option(
        "--report",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="Write a JSON summary.",
    ),
    click.option(
        "--log-format",
        type=click.Choice(["text", "json"]),
        default="text",
        show_default=True,
        help="json: log lines and the final summary as JSON objects (one per line).",
    ),
    click.option("--quiet", is_flag=True, help="Only warnings, errors and the summary."),
    click.option(
        "--transport",
        type=click.Choice(["rest", "grpc"]),
        default="rest",
        show_default=True,
        help="How records travel to and from Pinecone indexes: REST (JSON) or gRPC (float32 values sent and "
        "read as bytes: about half REST's CPU per record at dimension 1536; a local server needs "
        "`serve --grpc-port 0`).",
    ),
    click.option(
        "--accept-changes",
        is_flag=True,
        help="Copy into a target that cannot hold every record exactly (another database: sparse values it "
        "has no room for, lists it stores as text, cosine vectors it normalises), with the changes the run "
        "lists first; verify then compares through the same changes. Without it such a pair is refused.",
    ),
    click.option(
        "--rate-limits",
        type=click.Choice(["auto", "pinecone", "off"]),
        default="auto",
        show_default=True,
        help="Pace requests under Pinecone's published per-index rate limits: pinecone, off, or auto "
        "(pinecone against Pinecone's cloud, off against other hosts).",
    ),
]
SELECTION_OPTIONS: list[Callable[[Any], Any]] = [
    CONFIG_OPTION,
    *SOURCE_INDEX_OPTIONS,
    *TARGET_INDEX_OPTIONS,
    *ROUTING_OPTIONS,
    *RUN_OPTIONS,
]


def selection_options(function: FC) -> FC:
    return apply_options(function, SELECTION_OPTIONS)


def index_stores(request: MigrationRequest, options: dict[str, Any]) -> tuple[Store, Store]:
    """The source and target of a request (Pinecone indexes, or other databases by URI), each index with
    the key of the variable its options name (a missing key is refused before any connection); their
    errors name the side and its options."""
    source_variable = options["source_api_key_env"]
    target_variable = options["target_api_key_env"] or source_variable
    return (
        side_store("source", request.source, source_variable),
        side_store("target", request.target, target_variable),
    )


def side_store(role: Side, endpoint: Endpoint, key_variable: str) -> Store:
    """The store one side of a request names: a database by URI, or a Pinecone index."""
    if endpoint.uri:
        from ..stores.registry import Database, open_store
        from ..stores.uri import parse

        return open_store(Database(parse(endpoint.index, role)))
    return index_store(role, endpoint.index, endpoint.host, key_variable)


def side_endpoint(options: dict[str, Any], role: Side, default_host: str | None = None) -> Endpoint:
    """Where one side is, from ``--<role>-index`` (+ ``--<role>-host``) or ``--<role> URI``: exactly one."""
    from ..engine.request import Endpoint
    from ..errors import UserError
    from ..stores.uri import PINECONE_SCHEME, parse

    uri_text, index = options.get(role), options.get(f"{role}_index")
    host = options.get(f"{role}_host") or default_host
    if uri_text is not None and index is not None:
        raise click.UsageError(f"--{role} and --{role}-index both name the {role}: give one.")
    if uri_text is None:
        if index is None:
            raise click.UsageError(
                f"Name the {role}: --{role}-index NAME (a Pinecone index) or --{role} URI (another database, "
                "e.g. postgresql://user@host/db?table=items)."
            )
        return Endpoint(index, host)
    try:
        uri = parse(uri_text, role)
    except UserError as error:
        raise click.UsageError(str(error)) from None
    if uri.scheme == PINECONE_SCHEME:
        name = (uri.host or uri.path.strip("/")) if not uri.options else ""
        if not name or "/" in name:
            raise click.UsageError(
                f"--{role} {uri_text}: write pinecone://INDEX-NAME (host and key come from --{role}-host and "
                f"--{role}-api-key-env, as with --{role}-index)."
            )
        return Endpoint(name, host)
    if options.get(f"{role}_host"):
        raise click.UsageError(
            f"--{role}-host is the Pinecone control plane of an index; --{role} {uri_text} names its own "
            "host: leave one out."
        )
    return Endpoint(uri_text, None, uri=True)


def pinecone_only(options: dict[str, Any], command: str, *roles: Side) -> None:
    """Commands that only Pinecone indexes can serve (native backups, bulk import, stamps) refuse a URI."""
    for role in roles:
        uri = options.get(role)
        if uri is not None and not uri.lower().startswith("pinecone://"):
            raise click.UsageError(
                f"{command} works with Pinecone indexes only: use --{role}-index instead of --{role} {uri}."
            )


def index_name(options: dict[str, Any], role: Side, command: str) -> str:
    """The Pinecone index one side names (--<role>-index, or --<role> pinecone://NAME)."""
    pinecone_only(options, command, role)
    return side_endpoint(options, role).index


def index_store(role: Side, index: str, host: str | None, key_variable: str) -> PineconeStore:
    """An index opened through the registry; the key may come from the config file, which only the CLI
    reads, so it is looked up here (a missing one is a usage error)."""
    from ..stores.registry import PineconeIndex, open_store

    key = api_key(key_variable, role)
    # The data-plane options of the running command (RUN_OPTIONS), where it has them.
    context = click.get_current_context(silent=True)
    params = context.params if context is not None else {}
    return open_store(
        PineconeIndex(
            index,
            host,
            key_variable=key_variable,
            side=role,
            api_key=key,
            transport=params.get("transport") or "rest",
            rate_limits=params.get("rate_limits") or "auto",
        )
    )


def _fold_field(field: str | None, target_namespace: str | None, from_metadata: str | None) -> str | None:
    """--namespace-to-metadata FIELD: a fold needs the one namespace it folds into."""
    if field is None:
        return None
    if not field.strip():
        raise click.UsageError("--namespace-to-metadata: name the metadata field that keeps the namespace.")
    if from_metadata is not None:
        raise click.UsageError(
            "--namespace-to-metadata folds namespaces into one, --namespace-from-metadata splits them: "
            "choose one."
        )
    if target_namespace is None:
        raise click.UsageError(
            "--namespace-to-metadata needs --target-namespace NAME: the one namespace the fold writes into."
        )
    return field


def _drop_field(drop: bool, from_metadata: str | None) -> bool:
    if drop and from_metadata is None:
        raise click.UsageError("--drop-namespace-field only applies with --namespace-from-metadata FIELD.")
    return drop


def build_request(
    options: dict[str, Any], /, source: Endpoint | None = None, target: Endpoint | None = None, **extra: Any
) -> MigrationRequest:
    """The migration the options describe; ``source``/``target`` stand in for index options (an export's
    or an import's files); ``extra`` fills the fields only some commands have (target creation)."""
    from ..engine.request import MigrationRequest

    mapping = namespace_pairs(options["namespace_map"])
    target_namespace = options["target_namespace"]
    from_metadata = options["namespace_from_metadata"]
    fallback = options["fallback_namespace"]
    fold = _fold_field(options.get("namespace_to_metadata"), target_namespace, from_metadata)
    if target_namespace is not None and mapping:
        raise click.UsageError("--target-namespace and --namespace-map exclude each other: choose one.")
    if from_metadata is not None and (target_namespace is not None or mapping):
        raise click.UsageError(
            "--namespace-from-metadata decides every target namespace itself: "
            "it excludes --target-namespace and --namespace-map."
        )
    if from_metadata is not None and not from_metadata.strip():
        raise click.UsageError("--namespace-from-metadata: name the metadata field that holds the namespace.")
    if fallback is not None and from_metadata is None:
        raise click.UsageError("--fallback-namespace only applies with --namespace-from-metadata.")
    clean = bool(options.get("clean_namespace_names"))
    if clean and from_metadata is None:
        raise click.UsageError("--clean-namespace-names only applies with --namespace-from-metadata.")
    if source is None:
        source = side_endpoint(options, "source")
    if target is None:
        target = side_endpoint(options, "target", default_host=None if source.uri else source.host)
    return MigrationRequest(
        source=source,
        target=target,
        namespaces=tuple(dict.fromkeys(namespace_name(ns) for ns in options["namespaces"])),  # once each
        namespace_map=mapping,
        target_namespace=None
        if target_namespace is None
        else namespace_name(target_namespace, "--target-namespace"),
        allow_merge=options["allow_merge"],
        filter=filter_option(options["filter_json"]),
        namespace_from_metadata=from_metadata,
        fallback_namespace=None if fallback is None else namespace_name(fallback, "--fallback-namespace"),
        clean_namespace_names=clean,
        namespace_to_metadata=fold,
        drop_namespace_field=_drop_field(options.get("drop_namespace_field", False), from_metadata),
        state_path=options["state"],
        accept_changes=bool(options.get("accept_changes")),
        **extra,
    )
