"""What a migration did, per namespace and in all (this run and the runs of the same ledger before it)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class NamespaceSummary:
    namespace: str
    source_count: int | None
    listed: int
    copied: int
    skipped: int
    dead_letters: int
    done: bool


@dataclass
class MigrationSummary:
    namespaces: list[NamespaceSummary]
    elapsed_seconds: float
    interrupted: bool
    resumed: bool
    read_back: int | None = None  # --verify batch: records read back equal (this run)
    resent: int | None = None  # --verify batch: records sent again because the target's copy differed
    copied_before: int = 0  # by earlier runs of the same ledger (a resumed run)
    # Records this run wrote changed by each accepted change of the pair (None: a pair without changes).
    changed: dict[str, int] | None = None

    @property
    def copied(self) -> int:
        return sum(n.copied for n in self.namespaces)

    @property
    def copied_this_run(self) -> int:
        return self.copied - self.copied_before

    @property
    def records_per_second(self) -> float | None:
        """This run's speed: a resumed run does not count what earlier runs copied."""
        return self.copied_this_run / self.elapsed_seconds if self.elapsed_seconds else None

    @property
    def dead_letters(self) -> int:
        return sum(n.dead_letters for n in self.namespaces)

    @property
    def complete(self) -> bool:
        return all(n.done for n in self.namespaces)

    def to_json(self) -> dict[str, object]:
        return {
            "complete": self.complete,
            "interrupted": self.interrupted,
            "resumed": self.resumed,
            "copied": self.copied,
            "copied_this_run": self.copied_this_run,
            "dead_letters": self.dead_letters,
            "elapsed_seconds": round(self.elapsed_seconds, 3),
            "records_per_second": None
            if self.records_per_second is None
            else round(self.records_per_second, 1),
            "namespaces": [vars(n) for n in self.namespaces],
            **({"changed_this_run": self.changed} if self.changed is not None else {}),
            **(
                {"verify": {"level": "batch", "read_back_equal": self.read_back, "resent": self.resent}}
                if self.read_back is not None
                else {}
            ),
        }
