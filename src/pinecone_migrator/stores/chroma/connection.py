"""The Chroma client of one store, made on first use, and Chroma's failures in the library's terms.

Opening a store contacts nothing (bad input is refused before anything happens); the first call makes the
client. chromadb is imported here only, when a store first needs it (it takes a while to import). The
client's HTTP session is shared by every thread of a process (httpx's client is thread safe); a store sent
to another process makes its own there. Telemetry is off: the client talks to the named server only.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ...errors import RemoteError, UserError
from ..uri import StoreUri, require
from .address import ChromaAddress

CONNECT_SECONDS = 10.0
REQUEST_SECONDS = 120.0


class Connection:
    """Lazily made Chroma clients for one address: ``admin`` for databases, ``client`` for collections."""

    def __init__(self, address: ChromaAddress, uri: StoreUri) -> None:
        self.address = address
        self._uri = uri
        self._lock = threading.Lock()
        self._admin: Any = None
        self._client: Any = None

    def _settings(self) -> Any:
        config = require("chromadb.config", self._uri)
        address = self.address
        return config.Settings(
            chroma_api_impl="chromadb.api.fastapi.FastAPI",
            chroma_server_host=address.host,
            chroma_server_http_port=address.port,
            chroma_server_ssl_enabled=address.ssl,
            chroma_server_headers=address.headers() or None,
            anonymized_telemetry=False,
        )

    def admin(self) -> Any:
        with self._lock:
            if self._admin is None:
                chromadb = require("chromadb", self._uri)
                self._admin = chromadb.AdminClient(self._settings())
                _bound_waits(self._admin)
            return self._admin

    def client(self) -> Any:
        """The client of the address's database, which must exist (Chroma checks it when it is made)."""
        with self._lock:
            if self._client is None:
                chromadb = require("chromadb", self._uri)
                address = self.address
                try:
                    self._client = chromadb.Client(
                        self._settings(), tenant=address.tenant, database=address.database
                    )
                except ValueError as error:  # how chromadb says it could not reach the server
                    raise RemoteError(
                        "connect", f"Chroma at {address.server}: {_said(error)}", retryable=True
                    ) from None
                _bound_waits(self._client)
            return self._client


def _bound_waits(client: Any) -> None:
    """chromadb's session waits forever for an answer; a hung server must become a retryable error."""
    httpx = __import__("httpx")
    session = getattr(getattr(client, "_server", None), "_session", None)
    if session is not None:
        session.timeout = httpx.Timeout(REQUEST_SECONDS, connect=CONNECT_SECONDS)


@contextmanager
def translated(operation: str, address: ChromaAddress) -> Iterator[None]:
    """Chroma's and the network's failures as :class:`RemoteError` (retryable where waiting may help) or
    :class:`UserError` (credentials); other errors pass through for the caller to judge."""
    import httpx
    from chromadb import errors

    try:
        yield
    except (errors.ChromaAuthError, errors.AuthorizationError) as error:
        where = (
            f"the token in {address.token_env} (named by token_env=)"
            if address.token_env
            else "a token: name its environment variable with token_env="
        )
        raise UserError(
            f"{address.flag} {address.text}: the Chroma server refused access ({_said(error)}); "
            f"check {where}."
        ) from None
    except httpx.TransportError as error:
        raise RemoteError(
            operation,
            f"Chroma at {address.server} did not answer ({type(error).__name__}: {error}); is it running?",
            retryable=True,
        ) from None
    except errors.InvalidArgumentError as error:
        raise UserError(f"{address.flag} {address.text}: Chroma refused it: {_said(error)}.") from None
    except (errors.RateLimitError, errors.InternalError) as error:
        raise RemoteError(operation, f"Chroma: {_said(error)}", retryable=True) from None


def _said(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0][:500]
