"""`import --bulk`: the remote service reads the Parquet files itself. Everything that would make it fail
is checked before it is started — the files against every bulk-import rule, the target's shape, and that
no target namespace exists yet — and then the import is followed until the service says it ended."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from ...errors import ExitCode, IncompatibleTarget, UserError
from ...stores.base import CreatesLike, Store, StoreDescription
from ..request import MigrationRequest
from ..verify.run import VerifyOptions, VerifyResult
from .common import Displays
from .files import FileRecords
from .jobs import IMPORT_DONE, Job, follow
from .verify import verify_copy


class ImportJobs(Protocol):
    def start_import(self, uri: str, *, error_mode: str, integration_id: str | None) -> str: ...

    def describe_import(self, import_id: str) -> Job: ...


class Problem(Protocol):
    @property
    def rule(self) -> str: ...

    @property
    def message(self) -> str: ...

    def where(self) -> str: ...


class Validation(Protocol):
    @property
    def valid(self) -> bool: ...

    @property
    def problems(self) -> Sequence[Problem]: ...

    @property
    def counts(self) -> dict[str, int]: ...


Validate = Callable[[str, int | None], Validation]  # a tree's URI and the target's dimension


class InvalidFiles(Exception):
    """The files break bulk-import rules; nothing was started."""

    def __init__(self, uri: str, validation: Validation) -> None:
        super().__init__(f"{uri}: {sum(validation.counts.values()):,} problem(s)")
        self.uri = uri
        self.validation = validation


@dataclass(frozen=True)
class BulkSettings:
    uri: str  # the files' tree
    service_uri: str | None = None  # the remote service's spelling of it, when not ``uri``
    error_mode: Literal["abort", "continue"] = "abort"
    integration_id: str | None = None
    validate: Validate | None = None  # None: only every footer and schema is read, not every row
    verify: Literal["off", "digest", "full"] = "off"


@dataclass(frozen=True)
class BulkOutcome:
    job: Job
    stopped: bool  # the wait was stopped; the import may go on remotely
    verification: VerifyResult | None = None

    @property
    def still_running(self) -> bool:
        return self.stopped and self.job.status not in IMPORT_DONE

    @property
    def exit_code(self) -> ExitCode:
        if self.still_running:
            return ExitCode.INTERRUPTED
        if self.job.status != "Completed":
            return ExitCode.INCOMPLETE
        if self.verification is not None and not self.verification.equal:
            return ExitCode.DIFFERENT
        return ExitCode.OK

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"import": self.job.to_json()}
        if self.verification is not None:
            body["verify"] = self.verification.to_json()
        return body


def bulk_import(
    request: MigrationRequest,
    source: FileRecords,
    target: Store,
    jobs: ImportJobs,
    settings: BulkSettings,
    *,
    stop: threading.Event | None = None,
    on_started: Callable[[str], None] = lambda import_id: None,
    displays: Displays | None = None,
) -> BulkOutcome:
    """Check, prepare the target (created like the files when missing, unless the request forbids it),
    start the import and follow it; verify at ``settings.verify`` once it completed."""
    stop = stop or threading.Event()
    displays = displays or Displays()
    description = source.describe()
    existing = target.describe() if target.exists() else None
    _refuse_dedicated(request, existing)
    _check_files(source, settings, (existing or description).shape.dimension)
    _prepare_target(request, source, description, existing, target)
    import_id = jobs.start_import(
        settings.service_uri or settings.uri,
        error_mode=settings.error_mode,
        integration_id=settings.integration_id,
    )
    on_started(import_id)
    with displays.job() as show:
        job = follow(lambda: jobs.describe_import(import_id), IMPORT_DONE, stop, show)
    verification = None
    if job.status == "Completed" and settings.verify in ("digest", "full") and not stop.is_set():
        verification = verify_copy(
            request,
            source,
            target,
            VerifyOptions(level=settings.verify),
            stop=stop,
            displays=displays,
        )
    return BulkOutcome(job, stop.is_set(), verification)


def _refuse_dedicated(request: MigrationRequest, existing: StoreDescription | None) -> None:
    """Pinecone's DRN guide: dedicated indexes do not support bulk imports."""
    if request.target_read_capacity is not None or (existing is not None and existing.dedicated_read_nodes):
        raise UserError(
            f"The target index {request.target.index!r} runs on dedicated read nodes, which take no bulk "
            "import: import client-side (leave out --bulk), or bulk-import into an on-demand index."
        )


def _check_files(source: FileRecords, settings: BulkSettings, dimension: int | None) -> None:
    """Every bulk-import rule, before anything is started (the service refuses a whole import for one)."""
    if source.manifest is not None and source.manifest.file_format != "parquet":
        raise UserError(
            f"{settings.uri} holds JSON Lines; Pinecone's bulk import reads Parquet "
            "(export --format parquet)."
        )
    if settings.validate is None:
        source.check()  # still read every footer and schema: a damaged file must not start an import
        return
    validation = settings.validate(settings.uri, dimension)
    if not validation.valid:
        raise InvalidFiles(settings.uri, validation)


def _prepare_target(
    request: MigrationRequest,
    source: FileRecords,
    description: StoreDescription,
    existing: StoreDescription | None,
    target: Store,
) -> None:
    """The target exists in the files' shape and holds none of their namespaces."""
    index = request.target.index
    if existing is not None:
        differences = description.shape.differences(existing.shape)
        if differences:
            raise IncompatibleTarget(
                f"The target index {index!r} does not fit the files: " + "; ".join(differences)
            )
        clash = sorted(ns for ns in source.folders if existing.namespace_counts.get(ns, 0) > 0)
        if clash:
            raise UserError(
                f"The target index already has the namespace(s) {clash}; Pinecone's bulk import fails when a "
                "namespace it imports exists. Delete them, import into another index, or import client-side "
                "(without --bulk), which adds to existing namespaces."
            )
        return
    if not request.create_target:
        raise UserError(f"The target index {index!r} does not exist and --no-create-target was given.")
    if not isinstance(target, CreatesLike):
        raise UserError(f"The target {request.target.label()!r} does not exist and cannot be created here.")
    target.create_like(
        description,
        cloud=request.target_cloud,
        region=request.target_region,
        deletion_protection=request.target_deletion_protection,
    )
