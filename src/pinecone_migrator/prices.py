"""Pinecone's list prices and metering rules, in one table, for the estimates `plan` shows.

Source: Pinecone's pricing page (https://www.pinecone.io/pricing/) and its documentation of read and write
units, as we knew them in June 2025 (Standard plan, serverless, pay as you go). These figures MUST be checked
against the page before anyone relies on them: prices change, plans differ (Enterprise pays more per unit,
contracts less), and the egress figure is not Pinecone's own (see ``usd_per_gb_egress``). An estimate built
from them is never a bill; `plan --prices FILE` replaces any of them (JSON or TOML, the keys of
:class:`Prices`).
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import orjson

from .errors import UserError

GB = 10**9  # Pinecone prices storage and imports per decimal gigabyte

# How Pinecone meters the requests a migration sends (its documentation of read and write units).
READ_UNITS_PER_LIST = 1  # a list call (up to 100 IDs)
RECORDS_PER_FETCH_READ_UNIT = 10  # a fetch: 1 read unit per 10 records fetched, at least 1 per request
WRITE_UNIT_BYTES = 1024  # an upsert: 1 write unit per KB of request ...
MIN_WRITE_UNITS_PER_REQUEST = 5  # ... and at least 5 per request


@dataclass(frozen=True)
class Prices:
    """US dollars per unit; ``date`` and ``source`` say where the figures come from."""

    date: str = "2025-06"
    source: str = "pinecone.io/pricing, Standard plan; to be checked"
    usd_per_million_read_units: float = 16.0
    usd_per_million_write_units: float = 4.0
    usd_per_gb_imported: float = 1.0  # bulk import from object storage
    usd_per_gb_month_backup: float = 0.10  # a native backup's storage
    usd_per_gb_restored: float = 0.15  # a restore from a native backup
    # Not a Pinecone price: the clouds' internet egress list price (AWS, first 10 TB) stands in for what
    # reading records out of the source's region costs; replace it with your own figure.
    usd_per_gb_egress: float = 0.09

    def label(self) -> str:
        """How every figure computed from this table is to be read."""
        return f"estimate, list prices of {self.date} ({self.source}); not a bill"


DEFAULT_PRICES = Prices()
_NUMBERS = [f.name for f in fields(Prices) if f.type == "float"]
_TEXTS = [f.name for f in fields(Prices) if f.type == "str"]


def read_units_for_fetch(ids: int) -> int:
    return max(1, math.ceil(ids / RECORDS_PER_FETCH_READ_UNIT)) if ids else 0


def write_units_for_upsert(request_bytes: float) -> int:
    return max(MIN_WRITE_UNITS_PER_REQUEST, math.ceil(request_bytes / WRITE_UNIT_BYTES))


def load_prices(path: Path) -> Prices:
    """The default table with the figures of ``path`` (JSON, or TOML when it ends in .toml) in place of
    its own; refused in one line when the file cannot be read or holds anything but known keys."""
    where = f"--prices {path}"
    try:
        text = path.read_bytes()
    except OSError as error:
        raise UserError(f"{where}: cannot be read ({error.strerror}); name a JSON or TOML file.") from None
    given = _parse(text, path, where)
    if not isinstance(given, dict):
        raise UserError(f"{where}: expected an object of prices (keys such as usd_per_million_read_units).")
    unknown = sorted(set(given) - set(_NUMBERS) - set(_TEXTS))
    if unknown:
        raise UserError(f"{where}: unknown key {unknown[0]!r}; the keys are {', '.join(_TEXTS + _NUMBERS)}.")
    for key, value in given.items():
        if key in _TEXTS and not isinstance(value, str):
            raise UserError(f"{where}: {key} must be a string, not {value!r}.")
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if key in _NUMBERS and not (number and math.isfinite(value) and value >= 0):
            raise UserError(f"{where}: {key} must be a number of US dollars, 0 or more, not {value!r}.")
    figures: dict[str, Any] = {k: float(v) if k in _NUMBERS else v for k, v in given.items()}
    if "source" not in figures:
        figures["source"] = f"{path.name}, other figures {DEFAULT_PRICES.source}"
    return replace(DEFAULT_PRICES, **figures)


def _parse(text: bytes, path: Path, where: str) -> object:
    if path.suffix.lower() != ".toml":
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError as error:
            raise UserError(f"{where}: not valid JSON ({error}).") from None
    if sys.version_info < (3, 11):
        raise UserError(f"{where}: reading TOML needs Python 3.11 or later; write the prices as JSON.")
    import tomllib  # type: ignore[import-not-found,unused-ignore]  # mypy checks as Python 3.10

    try:
        return tomllib.loads(text.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise UserError(f"{where}: not valid TOML ({error}).") from None
