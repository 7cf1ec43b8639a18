"""Errors the server answers with, in Pinecone's two error shapes.

The data plane answers with gRPC-style ``rpcStatus`` bodies
(``{"code": int, "message": str, "details": []}``), the control plane with ``ErrorResponse``
(``{"status": int, "error": {"code": str, "message": str}}``).
"""

from __future__ import annotations

from enum import Enum


class Plane(Enum):
    CONTROL = "control"
    DATA = "data"


# gRPC status numbers used in rpcStatus bodies, keyed by the names the control plane uses.
GRPC_CODES: dict[str, int] = {
    "OK": 0,
    "CANCELLED": 1,
    "UNKNOWN": 2,
    "INVALID_ARGUMENT": 3,
    "DEADLINE_EXCEEDED": 4,
    "NOT_FOUND": 5,
    "ALREADY_EXISTS": 6,
    "PERMISSION_DENIED": 7,
    "RESOURCE_EXHAUSTED": 8,
    "FAILED_PRECONDITION": 9,
    "ABORTED": 10,
    "OUT_OF_RANGE": 11,
    "UNIMPLEMENTED": 12,
    "INTERNAL": 13,
    "UNAVAILABLE": 14,
    "DATA_LOSS": 15,
    "UNAUTHENTICATED": 16,
}


class ApiError(Exception):
    """An error answered to the client; rendered in the shape of the plane it happened on."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}

    def body(self, plane: Plane) -> dict[str, object]:
        if plane is Plane.DATA:
            return {"code": GRPC_CODES.get(self.code, 2), "message": self.message, "details": []}
        return {"status": self.status, "error": {"code": self.code, "message": self.message}}


def invalid_argument(message: str) -> ApiError:
    return ApiError(400, "INVALID_ARGUMENT", message)


def not_found(message: str) -> ApiError:
    return ApiError(404, "NOT_FOUND", message)


def already_exists(message: str) -> ApiError:
    return ApiError(409, "ALREADY_EXISTS", message)


def failed_precondition(message: str, status: int = 400) -> ApiError:
    return ApiError(status, "FAILED_PRECONDITION", message)


def too_many_requests(message: str, retry_after: float | None = None) -> ApiError:
    headers = {"Retry-After": str(max(1, round(retry_after)))} if retry_after is not None else {}
    return ApiError(429, "RESOURCE_EXHAUSTED", message, headers)


def unauthenticated() -> ApiError:
    return ApiError(
        401,
        "UNAUTHENTICATED",
        "Invalid API key: send the key this server was started with (--api-key) in the Api-Key header.",
    )
