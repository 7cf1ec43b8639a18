"""How a run shows itself: a live display on a terminal, log lines otherwise (text or JSON); how it is stopped
(Ctrl-C, SIGTERM, and 'q' then Enter on a terminal)."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import click
import orjson
from rich.console import Console
from rich.logging import RichHandler
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from .common import EXIT_INTERRUPTED

if TYPE_CHECKING:
    from ..engine.progress import ProgressListener
    from ..engine.verify.run import VerifyProgress, VerifyResult
    from ..engine.workflows import Confirm, Displays

log = logging.getLogger("pinecone_migrator.progress")
STOPPING = "Stopping: finishing in-flight batches (Ctrl-C again to quit at once)..."
SHOWN_IDS = 10  # per namespace and kind, on screen; the diff file and the report have them all


class JsonFormatter(logging.Formatter):
    """One JSON object per line; structured fields passed as ``extra={"fields": {...}}`` are merged in."""

    def format(self, record: logging.LogRecord) -> str:
        body: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        body.update(getattr(record, "fields", None) or {})
        if record.exc_info:
            body["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(body).decode()


def setup_logging(log_format: str, quiet: bool, console: Console | None) -> None:
    """Our loggers go to stderr: JSON lines, rich lines above a live display, or plain text lines."""
    handler: logging.Handler
    if log_format == "json":
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
    elif console is not None:
        handler = RichHandler(console=console, show_path=False, markup=False)
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    logger = logging.getLogger("pinecone_migrator")
    logger.handlers[:] = [handler]
    logger.setLevel(logging.WARNING if quiet else logging.INFO)
    logger.propagate = False


def emit_summary(log_format: str, text_lines: list[str], body: Mapping[str, Any]) -> None:
    """The final summary on stdout: readable lines, or one JSON object with --log-format json."""
    if log_format == "json":
        click.echo(orjson.dumps(body).decode())
    else:
        for line in text_lines:
            click.echo(line)


def install_stop_handlers(stop: threading.Event, console: Console | None = None) -> None:
    """Ctrl-C / SIGTERM: a graceful stop; a second one leaves at once (the ledger is consistent anyway).
    On a terminal, 'q' then Enter stops gracefully too; without one nothing waits for a key."""

    def announce() -> None:
        if console is not None:
            console.print(STOPPING, style="yellow")
        else:
            click.echo(STOPPING, err=True)

    def on_signal(signum: int, frame: object) -> None:
        if stop.is_set():
            os._exit(EXIT_INTERRUPTED)
        announce()
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    if console is None:
        return

    def read_keys() -> None:
        for line in sys.stdin:
            if line.strip().lower() in {"q", "quit"}:
                if not stop.is_set():
                    announce()
                    stop.set()
                return

    threading.Thread(target=read_keys, name="quit-key", daemon=True).start()


def stop_after_asking(stop: threading.Event, console: Console | None, ask: bool) -> Confirm | None:
    """The run's confirmation (when ``ask``), after which Ctrl-C, SIGTERM and 'q' stop it gracefully; at
    the prompt itself Ctrl-C cancels."""
    if not ask:
        install_stop_handlers(stop, console)
        return None

    def confirm(question: str) -> bool:
        answered = click.confirm(question, default=False, err=True)
        if answered:
            install_stop_handlers(stop, console)
        return answered

    return confirm


def run_displays(console: Console | None) -> Displays:
    """A live display on a terminal (``console``), log lines otherwise."""
    from ..engine.workflows import Displays

    def copy() -> AbstractContextManager[ProgressListener]:
        if console is None:
            return nullcontext(LogProgress())
        return LiveProgress(console).shown()

    def verify(total: int | None) -> AbstractContextManager[VerifyProgress | None]:
        return nullcontext(VerifyLog(total)) if console is None else VerifyLive(console, total).shown()

    return Displays(copy, verify)


def verdict_lines(result: VerifyResult, title: str = "verify") -> list[str]:
    head = (
        "EQUAL"
        if result.equal
        else "INTERRUPTED"
        if result.interrupted
        else "CANNOT JUDGE"
        if not result.judged
        else "DIFFERENT"
    )
    lines = [
        f"{title} ({result.level}): {head} — {len(result.namespaces)} target namespace(s); fetched "
        f"{result.source_records:,} source and {result.target_records:,} target records in "
        f"{result.elapsed_seconds:.1f} s"
    ]
    if result.filtered_out or result.unroutable:
        lines.append(
            f"  not expected in the target: {result.filtered_out:,} left out by the filter, "
            f"{result.unroutable:,} with no namespace to route to"
        )
    for ns in result.namespaces:
        counts = (
            f"expected {_count(ns.expected_count)}, found {_count(ns.actual_count)}"
            if ns.expected_count is not None or ns.actual_count is not None
            else "sampled records compared; counts are not compared at this level"
        )
        if ns.equal:
            lines.append(f"  {ns.namespace}: equal ({counts})")
            continue
        if not ns.judged:
            lines.append(f"  {ns.namespace}: not judged ({counts}){': ' + ns.note if ns.note else ''}")
            continue
        found = ", ".join(f"{kind} {n:,}" for kind, n in ns.counts.items() if n)
        buckets = (
            f"{len(ns.differing_buckets)} of {result.buckets} ID buckets differ"
            if ns.differing_buckets
            else ""
        )
        details = "".join(f"; {part}" for part in (found, buckets) if part)
        lines.append(f"  {ns.namespace}: DIFFERENT ({counts}){details}")
        for difference in list(ns.differences())[:SHOWN_IDS]:
            parts = f" ({', '.join(difference.parts)})" if difference.parts else ""
            lines.append(f"    {difference.kind}: {difference.id}{parts}")
    lines.extend(f"  note: {note}" for note in result.notes)
    if result.compared_through:
        lines.append(
            "  compared through the accepted changes ("
            + ", ".join(result.compared_through)
            + f"): {head} means as the target holds the source's records after them"
        )
    if result.unjudged:
        lines.append(f"  {result.unjudged}")
    return lines


def _count(value: int | None) -> str:
    return "?" if value is None else f"{value:,}"


class RateColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.0f} rec/s" if speed else "- rec/s", style="cyan", no_wrap=True)


class LiveProgress:
    """The terminal display: one bar per namespace and one for the whole run, with records/s and ETA."""

    def __init__(self, console: Console, noun: str = "copied") -> None:
        self.progress = Progress(
            TextColumn("{task.description:<20}"),
            BarColumn(bar_width=20),
            MofNCompleteColumn(),
            TaskProgressColumn(),
            RateColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.fields[note]}"),
            console=console,
            refresh_per_second=4,
            speed_estimate_period=20,
        )
        self.noun = noun
        self.tasks: dict[str, TaskID] = {}
        self.overall: TaskID | None = None
        self.dead = 0
        self.lock = threading.Lock()

    @contextmanager
    def shown(self) -> Iterator[LiveProgress]:
        with self.progress:
            yield self

    def run_started(self, totals: Mapping[str, int | None], already_listed: Mapping[str, int]) -> None:
        known = [t for t in totals.values() if t is not None]
        self.overall = self.progress.add_task(
            "all namespaces",
            total=sum(known) if len(known) == len(totals) else None,
            completed=sum(already_listed.values()),
            note="",
        )
        for namespace, total in totals.items():
            self.tasks[namespace] = self.progress.add_task(
                f"  {namespace}", total=total, completed=already_listed.get(namespace, 0), note="waiting"
            )

    def _task(self, namespace: str) -> TaskID:
        task = self.tasks.get(namespace)
        if task is None:
            task = self.tasks[namespace] = self.progress.add_task(f"  {namespace}", total=None, note="")
        return task

    def namespace_started(self, namespace: str, total: int | None, already_listed: int) -> None:
        self.progress.update(self._task(namespace), note=self.noun)

    def page_done(self, namespace: str, listed: int, copied: int, skipped: int, dead_letters: int) -> None:
        self.progress.advance(self._task(namespace), listed)
        if self.overall is not None:
            self.progress.advance(self.overall, listed)
        if dead_letters:
            with self.lock:
                self.dead += dead_letters
                note = f"[red]{self.dead:,} dead letters[/red]"
            if self.overall is not None:
                self.progress.update(self.overall, note=note)

    def namespace_finished(self, namespace: str, complete: bool) -> None:
        self.progress.update(self._task(namespace), note="done" if complete else "[yellow]stopped[/yellow]")

    def concurrency_changed(self, old: int, new: int, reason: str) -> None:
        if self.overall is not None:
            self.progress.update(self.overall, note=f"concurrency {new} ({reason})")


class LogProgress:
    """Without a terminal: a log line when a namespace starts and ends, and one every ``interval`` seconds."""

    def __init__(self, interval: float = 10.0, noun: str = "copied") -> None:
        self.interval = interval
        self.noun = noun
        self.lock = threading.Lock()
        self.started = time.monotonic()
        self.last_line = self.started
        self.total: int | None = None
        self.done_before = 0
        self.done = 0
        self.copied = 0
        self.dead = 0

    def run_started(self, totals: Mapping[str, int | None], already_listed: Mapping[str, int]) -> None:
        known = [t for t in totals.values() if t is not None]
        self.total = sum(known) if len(known) == len(totals) else None
        self.done_before = sum(already_listed.values())

    def namespace_started(self, namespace: str, total: int | None, already_listed: int) -> None:
        size = "?" if total is None else f"{total:,}"
        log.info(
            "namespace %r: started (%s records; %s listed by an earlier run)",
            namespace,
            size,
            f"{already_listed:,}",
            extra={"fields": {"event": "namespace_started", "namespace": namespace, "total": total}},
        )

    def page_done(self, namespace: str, listed: int, copied: int, skipped: int, dead_letters: int) -> None:
        with self.lock:
            self.done += listed
            self.copied += copied
            self.dead += dead_letters
            now = time.monotonic()
            if now - self.last_line < self.interval:
                return
            self.last_line = now
            self._line(now)

    def _line(self, now: float) -> None:
        rate = self.done / (now - self.started) if now > self.started else 0.0
        processed = self.done_before + self.done
        fields: dict[str, Any] = {
            "event": "progress",
            "processed": processed,
            "total": self.total,
            self.noun: self.copied,
            "dead_letters": self.dead,
            "records_per_second": round(rate, 1),
        }
        eta = ""
        if self.total and rate > 0:
            fields["eta_seconds"] = round(max(0, self.total - processed) / rate)
            eta = f", ETA {fields['eta_seconds']} s"
        of = (
            "" if self.total is None else f" of {self.total:,} ({100 * processed / max(1, self.total):.0f} %)"
        )
        log.info(
            "%s records%s processed, %s %s, %s dead letters, %.0f rec/s%s",
            f"{processed:,}",
            of,
            f"{self.copied:,}",
            self.noun,
            f"{self.dead:,}",
            rate,
            eta,
            extra={"fields": fields},
        )

    def namespace_finished(self, namespace: str, complete: bool) -> None:
        log.info(
            "namespace %r: %s",
            namespace,
            "done" if complete else "stopped before the end",
            extra={"fields": {"event": "namespace_finished", "namespace": namespace, "complete": complete}},
        )

    def concurrency_changed(self, old: int, new: int, reason: str) -> None:
        pass  # the engine logs it already


class VerifyLive:
    """The terminal display of a verify: records fetched from each side, with records/s and ETA."""

    def __init__(self, console: Console, source_total: int | None) -> None:
        self.progress = Progress(
            TextColumn("{task.description:<10}"),
            BarColumn(),
            MofNCompleteColumn(),
            RateColumn(),
            TimeRemainingColumn(),
            console=console,
            refresh_per_second=4,
            speed_estimate_period=20,
        )
        self.sides = {side: self.progress.add_task(side, total=source_total) for side in ("source", "target")}

    @contextmanager
    def shown(self) -> Iterator[VerifyLive]:
        with self.progress:
            yield self

    def __call__(self, side: str, namespace: str, count: int) -> None:
        self.progress.advance(self.sides[side], count)


class VerifyLog:
    """Without a terminal: a log line every ``interval`` seconds with the records fetched from each side."""

    def __init__(self, source_total: int | None, interval: float = 10.0) -> None:
        self.total = source_total
        self.interval = interval
        self.lock = threading.Lock()
        self.started = self.last_line = time.monotonic()
        self.fetched = {"source": 0, "target": 0}

    def __call__(self, side: str, namespace: str, count: int) -> None:
        with self.lock:
            self.fetched[side] += count
            now = time.monotonic()
            if now - self.last_line < self.interval:
                return
            self.last_line = now
            rate = self.fetched["source"] / (now - self.started)
            of = "" if self.total is None else f" of {self.total:,}"
            log.info(
                "verify: %s%s source records and %s target records fetched, %.0f source rec/s",
                f"{self.fetched['source']:,}",
                of,
                f"{self.fetched['target']:,}",
                rate,
                extra={"fields": {"event": "verify_progress", **self.fetched, "total": self.total}},
            )
