"""Where requests go: a folder of .http files (the default: nothing leaves the machine) or
the real URL over HTTP(S).

A 2xx answer is success; 429, 408, 5xx, a timeout or a network error are tried again later
(after `Retry-After` when the server gives one); any other answer fails that request only.
Redirects are not followed: a POST must not silently turn into a GET elsewhere.
"""

from __future__ import annotations

import http.client
import os
import ssl
from collections.abc import Mapping
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from urllib.parse import urlsplit

from salesflow import __version__
from salesflow.config.model import WebhookSettings
from salesflow.mail.transports import PermanentFailure, TemporaryFailure, write_whole
from salesflow.webhooks.references import MissingVariable, resolve
from salesflow.webhooks.request import Request

KEPT_ANSWER = 200  # characters of an answer's body kept for the trace
_AGAIN = {408, 425, 429}  # client errors that mean "later", like the 5xx


class RequestFolder:
    """Writes each request to `<folder>/<YYYYmmdd-HHMMSS>-<id>.http`, references unresolved:
    the files never hold a secret, and the demo needs no environment."""

    def __init__(self, folder: Path):
        self.folder = folder

    @contextmanager
    def session(self):
        self.folder.mkdir(parents=True, exist_ok=True)
        yield self._write

    def _write(self, request: Request, name: str) -> str:
        return write_whole(self.folder / f"{name}.http", request.shown().encode())


class HttpClient:
    """One connection per request, `timeout` for connecting and for each read."""

    def __init__(self, timeout: float, environ: Mapping[str, str] = os.environ):
        self.timeout = timeout
        self.environ = environ

    @contextmanager
    def session(self):
        yield self._send

    def _send(self, request: Request, name: str) -> str:
        try:
            url = resolve(request.url, self.environ)
            headers = {key: resolve(value, self.environ) for key, value in request.headers.items()}
        except MissingVariable as error:
            raise TemporaryFailure(f"the environment variable {error} is not set where"
                                   " salesflow runs") from None  # fmt: skip
        _check_resolved(url, headers)
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise PermanentFailure(f"'{parts.scheme}:' URL: only http:// and https:// are sent")
        headers = {"User-Agent": f"salesflow/{__version__}", **headers,
                   "Idempotency-Key": request.key}  # fmt: skip
        where = f"{parts.hostname}:{parts.port}" if parts.port else parts.hostname
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        connection = self._connection(parts)
        try:
            connection.request(request.method, target, request.body.encode(), headers)
            response = connection.getresponse()
            answer = response.read(64 * 1024).decode("utf-8", "replace")
        except (OSError, http.client.HTTPException) as error:
            raise TemporaryFailure(f"{where}: {error or type(error).__name__}") from None
        finally:
            connection.close()
        return _verdict(response, answer)

    def _connection(self, parts) -> http.client.HTTPConnection:
        if parts.scheme == "https":
            return http.client.HTTPSConnection(parts.hostname, parts.port, timeout=self.timeout,
                                               context=ssl.create_default_context())  # fmt: skip
        return http.client.HTTPConnection(parts.hostname, parts.port, timeout=self.timeout)


def _check_resolved(url: str, headers: dict[str, str]) -> None:
    """What the environment put in the URL and headers, checked before http.client sees it:
    its own errors quote the value, and the value may be a secret (never in an error)."""
    if any(ord(char) <= 0x20 or ord(char) == 0x7F for char in url):
        raise PermanentFailure("the URL has a space or a control character (from the"
                               " environment?)")  # fmt: skip
    for name, value in headers.items():
        if "\r" in value or "\n" in value:
            raise PermanentFailure(f"header {name}: its value has a line break")
        try:
            value.encode("latin-1")
        except UnicodeEncodeError:
            raise PermanentFailure(f"header {name}: its value has characters HTTP headers"
                                   " cannot carry (not Latin-1)") from None  # fmt: skip


def _verdict(response: http.client.HTTPResponse, answer: str) -> str:
    said = f"{response.status} {response.reason}"
    kept = " ".join(answer.split())[:KEPT_ANSWER]
    said_all = f"{said}: {kept}" if kept else said
    if 200 <= response.status < 300:
        return said_all
    if response.status in _AGAIN or response.status >= 500:
        raise TemporaryFailure(said_all, retry_after(response.getheader("Retry-After")))
    if 300 <= response.status < 400:
        moved = response.getheader("Location") or "elsewhere"
        raise PermanentFailure(f"{said}: moved to {moved}; put that URL in the workflow")
    raise PermanentFailure(said_all)


def retry_after(value: str | None) -> timedelta | None:
    """`Retry-After` as seconds or as an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    if value.strip().isdigit():
        return timedelta(seconds=int(value))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(when - datetime.now(UTC), timedelta(0))


def transport_for(settings: WebhookSettings):
    return (
        HttpClient(settings.timeout)
        if settings.transport == "http"
        else RequestFolder(settings.folder)
    )
