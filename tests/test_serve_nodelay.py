"""serve's connections send at once: TCP_NODELAY on every accepted socket (with Nagle on, a
page's body written after its headers waited for the client's delayed ACK, 40 ms)."""

from __future__ import annotations

import asyncio
import socket

from salesflow.web.connections import Listener
from salesflow.web.server import _bind


def test_an_accepted_connection_sends_without_waiting_for_acks():
    async def accepted_nodelay() -> int:
        seen: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        async def on_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
            sock = writer.get_extra_info("socket")
            seen.set_result(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            writer.close()

        listener = Listener.taking(_bind("127.0.0.1", 0))
        server = await asyncio.start_server(on_connection, sock=listener)
        async with server:
            _, writer = await asyncio.open_connection(*listener.getsockname())
            try:
                return await asyncio.wait_for(seen, 10)
            finally:
                writer.close()

    assert asyncio.run(accepted_nodelay()) != 0
