"""The data plane over gRPC, through the official SDK's gRPC client. Not built yet: asking for it fails
loudly rather than quietly falling back to REST."""

from __future__ import annotations

from typing import Any

from ...errors import UserError
from .rest import Denied
from .transport import Transport


def open_grpc_transport(
    description: Any, api_key: str, control_host: str | None, *, denied: Denied
) -> Transport:
    raise UserError("--transport grpc is not available yet; use --transport rest (the default).")
