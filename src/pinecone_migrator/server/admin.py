"""The admin endpoint: lets a test change faults and limits while the server runs.

``GET /_admin/faults`` shows the live settings and what was injected, ``PUT /_admin/faults`` changes any
subset of the settings, ``POST /_admin/faults/reset`` turns everything off and zeroes the counters.
``GET /_admin/grpc`` lists the gRPC listener of every index (``serve --grpc-port``).
The faults middleware never applies faults here; the API key check does apply.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

from aiohttp import web

from .context import grpc_host_for, json_response, state_of
from .errors import invalid_argument
from .faults import PINECONE_RATE_LIMITS, FaultSettings, fault_rates
from .validation import json_object

PREFIX = "/_admin"
FAULTS_PATH = f"{PREFIX}/faults"
GRPC_PATH = f"{PREFIX}/grpc"

# Longest latency or visibility delay accepted (1 hour): anything above is almost surely a unit mistake.
MAX_DELAY_MS = 3_600_000.0


def _number(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise invalid_argument(f"{name} must be a finite number, got {value!r}.")
    return float(value)


def _fraction(name: str, value: object) -> float:
    number = _number(name, value)
    if not 0.0 <= number <= 1.0:
        raise invalid_argument(f"{name} must be a fraction between 0 and 1, got {value!r}.")
    return number


def _delay_ms(name: str, value: object) -> float:
    number = _number(name, value)
    if not 0.0 <= number <= MAX_DELAY_MS:
        raise invalid_argument(
            f"{name} must be between 0 and {MAX_DELAY_MS:.0f} milliseconds, got {value!r}."
        )
    return number


def _rate_limits(name: str, value: object) -> str | None:
    if value is None or value == "off":
        return None
    if value == PINECONE_RATE_LIMITS:
        return PINECONE_RATE_LIMITS
    raise invalid_argument(f'{name} must be "pinecone", "off" or null, got {value!r}.')


def _seed(name: str, value: object) -> int | None:
    if value is None or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    raise invalid_argument(f"{name} must be an integer or null, got {value!r}.")


def _scale(name: str, value: object) -> float:
    number = _number(name, value)
    if not 0.001 <= number <= 1000:
        raise invalid_argument(f"{name} must lie between 0.001 and 1000, got {value!r}.")
    return number


def _boolean(name: str, value: object) -> bool:
    if isinstance(value, bool):
        return value
    raise invalid_argument(f"{name} must be true or false, got {value!r}.")


# How every FaultSettings field is validated; a test checks that no field is missing.
VALIDATORS: dict[str, Callable[[str, object], object]] = {
    "rate_429": _fraction,
    "rate_429_no_retry_after": _fraction,
    "rate_500": _fraction,
    "rate_503": _fraction,
    "drop_rate": _fraction,
    "latency_ms": _delay_ms,
    "visibility_delay_ms": _delay_ms,
    "rate_limits": _rate_limits,
    "seed": _seed,
    "rate_limit_retry_after": _boolean,
    "rate_limit_scale": _scale,
    "background_batch_delay_ms": _delay_ms,
}


def parse_changes(body: bytes, current: FaultSettings) -> dict[str, object]:
    """Validate a PUT body against the current settings: the typed changes, or a 400 ApiError."""
    document = json_object(body)
    unknown = sorted(set(document) - set(VALIDATORS))
    if unknown:
        raise invalid_argument(f"Unknown fault settings {unknown}; known settings: {sorted(VALIDATORS)}.")
    changes = {name: VALIDATORS[name](name, value) for name, value in document.items()}
    merged = dataclasses.replace(current)
    for name, value in changes.items():
        setattr(merged, name, value)
    _check_rates_sum(merged)
    return changes


def _check_rates_sum(settings: FaultSettings) -> None:
    """The fault rates share one die roll per request, so together they are a probability too."""
    rates = fault_rates(settings)
    if sum(rate for _, rate in rates) > 1.0 + 1e-9:
        names = ", ".join(f"{fault.value}={rate:g}" for fault, rate in rates)
        raise invalid_argument(f"The fault rates add up to more than 1 ({names}); lower some of them.")


async def get_faults(request: web.Request) -> web.Response:
    return json_response(state_of(request).faults.snapshot())


async def put_faults(request: web.Request) -> web.Response:
    injector = state_of(request).faults
    changes = parse_changes(await request.read(), injector.settings)
    injector.update(changes)
    return json_response(injector.snapshot())


async def reset_faults(request: web.Request) -> web.Response:
    injector = state_of(request).faults
    injector.reset()
    return json_response(injector.snapshot())


async def get_grpc(request: web.Request) -> web.Response:
    """Where each index's gRPC data plane listens: ``{index: "host:port"}``; 404 while gRPC is off, so that a
    client can tell before creating an index whether it would get a gRPC listener."""
    state = state_of(request)
    if state.config.grpc_port is None:
        return json_response(
            {"error": {"code": "NOT_FOUND", "message": "This server serves no gRPC data plane: start it "
                       "with --grpc-port."}},
            status=404,
        )  # fmt: skip
    return json_response({name: grpc_host_for(state, name, request) for name in sorted(state.grpc_hosts)})


def add_routes(app: web.Application) -> None:
    app.router.add_get(GRPC_PATH, get_grpc)
    app.router.add_get(FAULTS_PATH, get_faults)
    app.router.add_put(FAULTS_PATH, put_faults)
    app.router.add_post(f"{FAULTS_PATH}/reset", reset_faults)
