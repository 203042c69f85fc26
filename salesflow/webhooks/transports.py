"""Where requests go: a folder of .http files (the default: nothing leaves the machine) or
the real URL over HTTP(S).

One deadline covers a whole request; what is kept of an answer never holds the secrets the
request carried. A 2xx answer is success; 429, 408, 5xx, a timeout or a network error are
tried again later (after `Retry-After` when the server gives one); any other answer fails
that request only.
Redirects are not followed: a POST must not silently turn into a GET elsewhere.
"""

from __future__ import annotations

import http.client
import io
import os
import socket
import ssl
import time
from collections.abc import Mapping
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from urllib.parse import urlsplit

from salesflow import __version__
from salesflow.config.model import WebhookSettings
from salesflow.store.db import describe
from salesflow.templating.references import MissingVariable, Pieces, named, redact, resolve
from salesflow.templating.urls import start_problem
from salesflow.transports import PermanentFailure, TemporaryFailure, write_whole
from salesflow.webhooks.request import Request

KEPT = 300  # characters kept of what an answer said (status, start of its body)
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
    """One connection per request, and one deadline (`timeout`) for connecting, sending and
    reading the whole answer. What is kept of the answer (and of any failure) has the
    request's secrets redacted: the other end may quote them back."""

    def __init__(self, timeout: float, environ: Mapping[str, str] = os.environ):
        self.timeout = timeout
        self.environ = environ

    @contextmanager
    def session(self):
        yield self._send

    def _send(self, request: Request, name: str) -> str:
        secrets = [self.environ[variable] for pieces in (request.url, *request.headers.values())
                   for variable in named(pieces) if variable in self.environ]  # fmt: skip
        try:
            return _kept(self._exchange(request), secrets)
        except TemporaryFailure as failure:
            raise TemporaryFailure(_kept(str(failure), secrets), failure.retry_after) from None
        except PermanentFailure as failure:
            raise PermanentFailure(_kept(str(failure), secrets)) from None
        except Exception as error:  # http.client's own complaints may quote the URL
            raise PermanentFailure(_kept(describe(error), secrets)) from None

    def _exchange(self, request: Request) -> str:
        url, headers = self._resolved(request)
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise PermanentFailure(f"'{parts.scheme}:' URL: only http:// and https:// are sent")
        headers = {"User-Agent": f"salesflow/{__version__}", **headers,
                   "Idempotency-Key": request.key}  # fmt: skip
        where = f"{parts.hostname}:{parts.port}" if parts.port else parts.hostname
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        deadline = time.monotonic() + self.timeout
        connection = self._connection(parts)
        try:
            connection.connect()
            with connection.sock:
                connection.sock = _Deadline(connection.sock, deadline)
                connection.request(request.method, target, request.body.encode(), headers)
                response = connection.getresponse()
                answer = response.read(64 * 1024).decode("utf-8", "replace")
        except TimeoutError:
            raise TemporaryFailure(f"{where}: timed out: no whole answer within"
                                   f" {self.timeout:g} s") from None  # fmt: skip
        except (OSError, http.client.HTTPException) as error:
            raise TemporaryFailure(f"{where}: {error or type(error).__name__}") from None
        finally:
            connection.close()
        return _verdict(response, answer)

    def _resolved(self, request: Request) -> tuple[str, dict[str, str]]:
        """The URL and headers as they are sent, checked before http.client sees them: its
        own errors quote the value, and the value may be a secret."""
        try:
            url = resolve(request.url, self.environ)
            headers = {key: resolve(value, self.environ) for key, value in request.headers.items()}
        except MissingVariable as error:
            raise TemporaryFailure(f"the environment variable {error} is not set where"
                                   " salesflow runs") from None  # fmt: skip
        if problem := start_problem(request.url, self.environ):
            raise PermanentFailure(problem)
        _check_url(request.url, self.environ)
        _check_headers(headers)
        return url, headers

    def _connection(self, parts) -> http.client.HTTPConnection:
        if parts.scheme == "https":
            return http.client.HTTPSConnection(parts.hostname, parts.port, timeout=self.timeout,
                                               context=ssl.create_default_context())  # fmt: skip
        return http.client.HTTPConnection(parts.hostname, parts.port, timeout=self.timeout)


class _Deadline:
    """A connected socket whose every send and read may take only the time left before the
    deadline: a receiver that trickles its answer a byte at a time cannot stretch it."""

    def __init__(self, sock: socket.socket, deadline: float):
        self._sock, self._deadline = sock, deadline

    def __getattr__(self, name: str):
        return getattr(self._sock, name)

    def _time_left(self) -> None:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("timed out")
        self._sock.settimeout(left)

    def sendall(self, data: bytes) -> None:
        self._time_left()
        self._sock.sendall(data)

    def recv_into(self, buffer) -> int:
        self._time_left()
        return self._sock.recv_into(buffer)

    def makefile(self, *_args, **_kwargs) -> io.BufferedReader:
        return io.BufferedReader(_Reads(self))

    def close(self) -> None:
        """Not yet: http.client closes as soon as the headers say the connection ends, before
        the body is read. The socket is closed when the request is done."""


class _Reads(io.RawIOBase):
    """What http.client reads the answer from: the socket, within its deadline."""

    def __init__(self, sock: _Deadline):
        self._sock = sock

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        return self._sock.recv_into(buffer)


def _check_url(pieces: Pieces, environ: Mapping[str, str]) -> None:
    """A space or a control character in the URL, said where it comes from: the workflow's
    text (data rendered into it is percent-encoded) or an environment variable, named."""
    for index, part in enumerate(pieces):
        value = environ[part] if index % 2 else part
        if any(ord(char) <= 0x20 or ord(char) == 0x7F for char in value):
            if index % 2:
                raise PermanentFailure(f"the environment variable {part} puts a space or a"
                                       " control character in the URL")  # fmt: skip
            raise PermanentFailure(f"the URL has a space or a control character in {part!r}")


def _check_headers(headers: dict[str, str]) -> None:
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
    said_all = f"{said}: {answer}" if answer.strip() else said
    if 200 <= response.status < 300:
        return said_all
    if response.status in _AGAIN or response.status >= 500:
        raise TemporaryFailure(said_all, retry_after(response.getheader("Retry-After")))
    if 300 <= response.status < 400:
        moved = response.getheader("Location") or "elsewhere"
        raise PermanentFailure(f"{said}: moved to {moved}; put that URL in the workflow")
    raise PermanentFailure(said_all)


def _kept(text: str, secrets: list[str]) -> str:
    """What is kept of an answer or a failure: secrets redacted, then on one short line."""
    text = " ".join(redact(text, secrets).split())
    return text if len(text) <= KEPT else text[: KEPT - 1] + "…"


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
