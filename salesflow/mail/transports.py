"""Where messages go: a folder of .eml files (the default: no server needed) or SMTP.

A transport opens a session for a whole delivery pass (one SMTP connection for the batch,
not one per message) and raises, per message, TemporaryFailure or PermanentFailure.
"""

from __future__ import annotations

import contextlib
import os
import smtplib
import socket
import ssl
import threading
import time
from contextlib import contextmanager
from email.message import EmailMessage
from pathlib import Path

from salesflow.config.model import EmailSettings
from salesflow.errors import UserError
from salesflow.transports import ConnectionLost, PermanentFailure, TemporaryFailure, write_whole


class EmlFolder:
    """Writes each message to `<folder>/<YYYYmmdd-HHMMSS>-<id>.eml`: sorted by time, and the
    same name for the same message, so a retry after a crash rewrites rather than doubles."""

    def __init__(self, folder: Path):
        self.folder = folder

    @contextmanager
    def session(self):
        self.folder.mkdir(parents=True, exist_ok=True)
        yield self._write

    def _write(self, message: EmailMessage, name: str) -> str:
        return write_whole(self.folder / f"{name}.eml", message.as_bytes())


class Deadline:
    """A whole-operation time limit on an SMTP client: smtplib's timeout bounds each read,
    so a server that trickles a line every few seconds would hold it forever. When an
    operation outlives its limit, the socket is shut down and the pending read fails."""

    def __init__(self, client: smtplib.SMTP, seconds: float):
        self.client = client
        self.seconds = seconds
        self.expired = False

    @contextmanager
    def limit(self, what: str):
        timer = threading.Timer(self.seconds, self._expire)
        timer.daemon = True
        timer.start()
        try:
            yield
        except (OSError, smtplib.SMTPException, ConnectionLost) as error:
            if self.expired:
                raise ConnectionLost(f"{what} took longer than {self.seconds:g} s") from None
            raise error
        finally:
            timer.cancel()

    def _expire(self) -> None:
        self.expired = True
        sock = self.client.sock  # the current one: STARTTLS replaces it
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class Smtp:
    """smtplib with STARTTLS or SSL, login from the environment, a timeout, one connection
    for the whole pass, and an optional rate limit (messages per minute).

    `timeout` bounds each whole operation — connecting with the greeting, EHLO, STARTTLS and
    login; then each message — not only each read."""

    def __init__(self, settings: EmailSettings):
        if settings.smtp is None:
            raise UserError("email.transport is smtp but salesflow.yaml has no email.smtp")
        self.smtp = settings.smtp

    def _connect(self) -> tuple[smtplib.SMTP, Deadline]:
        smtp = self.smtp
        port = smtp.port or {"ssl": 465, "starttls": 587}.get(smtp.security, 25)
        password = self._password() if smtp.username else None  # before a socket is opened
        if smtp.security == "ssl":
            client = smtplib.SMTP_SSL(timeout=smtp.timeout, context=ssl.create_default_context())
        else:
            client = smtplib.SMTP(timeout=smtp.timeout)
        deadline = Deadline(client, smtp.timeout)
        try:
            with deadline.limit(f"connecting to {smtp.host}:{port}"):
                code, reply = client.connect(smtp.host, port)
                if code != 220:
                    raise smtplib.SMTPConnectError(code, reply)
                if smtp.security == "starttls":
                    client.starttls(context=ssl.create_default_context())
                if smtp.username:
                    client.login(smtp.username, password)
        except smtplib.SMTPAuthenticationError as error:
            client.close()
            raise UserError(f"SMTP login refused by {smtp.host}: {error.smtp_error!r}") from None
        except (OSError, smtplib.SMTPException, TemporaryFailure) as error:
            client.close()
            raise TemporaryFailure(f"cannot reach {smtp.host}:{port}: {error}") from None
        return client, deadline

    def _password(self) -> str:
        name = self.smtp.password_env
        if not name or name not in os.environ:
            raise UserError(
                f"set the SMTP password in the environment variable {name or '(password_env)'}"
            )
        return os.environ[name]

    @contextmanager
    def session(self):
        client, deadline = self._connect()
        interval = 60 / self.smtp.rate_limit if self.smtp.rate_limit else 0
        last = [0.0]

        def send(message: EmailMessage, name: str) -> str:
            wait = last[0] + interval - time.monotonic()
            if wait > 0:
                time.sleep(wait)  # the provider's rate limit
            last[0] = time.monotonic()
            with deadline.limit(f"sending message {message['Message-ID']}"):
                return _send(client, message)

        try:
            yield send
        finally:
            try:
                with deadline.limit("closing the connection"):
                    client.quit()
            except (OSError, smtplib.SMTPException, TemporaryFailure):
                client.close()


def _send(client: smtplib.SMTP, message: EmailMessage) -> str:
    """Send it from its Return-Path (VERP) when it has one: the receiving server writes the
    envelope's sender there, so it is not sent as a header."""
    envelope = message.get("Return-Path")
    if envelope is not None:
        del message["Return-Path"]
        envelope = str(envelope).strip("<>")
    try:
        refused = client.send_message(message, from_addr=envelope)
    except smtplib.SMTPNotSupportedError:
        raise PermanentFailure(
            "the server does not take internationalised addresses (no SMTPUTF8)"
        ) from None
    except smtplib.SMTPRecipientsRefused as error:
        code, reply = next(iter(error.recipients.values()))
        raise _failure(code, reply) from None
    except smtplib.SMTPResponseException as error:
        raise _failure(error.smtp_code, error.smtp_error) from None
    except (TimeoutError, OSError, smtplib.SMTPServerDisconnected) as error:
        raise ConnectionLost(f"connection lost: {error}") from None
    if refused:
        code, reply = next(iter(refused.values()))
        raise _failure(code, reply)
    return "accepted by the server"


def _failure(code: int, reply) -> Exception:
    text = reply.decode(errors="replace") if isinstance(reply, bytes) else str(reply)
    kind = PermanentFailure if 500 <= code < 600 else TemporaryFailure
    return kind(f"{code} {text}")


def transport_for(settings: EmailSettings):
    return Smtp(settings) if settings.transport == "smtp" else EmlFolder(settings.outbox_dir)
