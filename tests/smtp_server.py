"""A real SMTP server (aiosmtpd) on 127.0.0.1 for the tests, with scripted replies."""

from __future__ import annotations

import asyncio
import email
import socket
import threading
from email import policy

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Recorder:
    """Accepts mail, except: recipients in `refuse` get 550; the first `busy` DATA get 451."""

    def __init__(self, refuse: tuple[str, ...] = (), busy: int = 0, delay: float = 0):
        self.refuse = refuse
        self.busy = busy
        self.delay = delay  # seconds each DATA takes: a slow server
        self.messages: list[email.message.EmailMessage] = []
        self.raw: list[bytes] = []  # each message as it came, to read with other parsers
        self.connections = 0

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        self.connections += 1
        session.host_name = hostname
        return responses

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.busy > 0:
            self.busy -= 1
            return "451 4.3.0 Try again later"
        content = envelope.content  # UTF-8 headers when the client used SMTPUTF8
        self.raw.append(content)
        self.messages.append(email.message_from_string(content.decode(), policy=policy.default))
        return "250 Message accepted for delivery"


class StrictSMTP(SMTP):
    """Refuses a line over RFC 5322's 998 characters (and CRLF) with `500 Line too long`,
    as real servers do (aiosmtpd's own limit is 1001 bytes)."""

    line_length_limit = 1000


class StrictController(Controller):
    def factory(self) -> SMTP:
        return StrictSMTP(self.handler, **self.SMTP_kwargs)


class SmtpServer:
    def __init__(self, handler: Recorder, port: int | None = None, smtputf8: bool = False):
        self.handler = handler
        self.port = port or free_port()
        self.controller = StrictController(
            handler, hostname="127.0.0.1", port=self.port, enable_SMTPUTF8=smtputf8
        )

    def __enter__(self) -> SmtpServer:
        self.controller.start()
        return self

    def __exit__(self, *exc) -> None:
        self.controller.stop()


class Trickler:
    """A server that never finishes its greeting: one `220-` line every `every` seconds."""

    def __init__(self, every: float = 0.3):
        self.every = every
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.stop = threading.Event()

    def _serve(self) -> None:
        self.listener.settimeout(0.1)
        while not self.stop.is_set():
            try:
                client, _ = self.listener.accept()
            except TimeoutError:
                continue
            with client:
                while not self.stop.wait(self.every):
                    try:
                        client.sendall(b"220-still saying hello\r\n")
                    except OSError:
                        break

    def __enter__(self) -> Trickler:
        threading.Thread(target=self._serve, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.listener.close()
