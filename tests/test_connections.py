"""`salesflow serve` under a flood of connections: idle ones, headers or bodies sent a byte at
a time, more connections than file descriptors. A real server process on 127.0.0.1, raw
sockets for the attack, httpx for the client who must still be served."""

from __future__ import annotations

import resource
import socket
import time
from pathlib import Path

import httpx
import yaml
from conftest import Server

JULIE = {"email": "julie@example.org", "prenom": "Julie", "date_essai": "2027-01-09T18:30"}
SLOW_HEADERS = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "
SLOW_BODY = (b"POST /forms/cours-essai HTTP/1.1\r\nHost: 127.0.0.1\r\n"
             b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{")  # fmt: skip


def with_serve_settings(project: Path, **settings) -> Path:
    config = yaml.safe_load((project / "salesflow.yaml").read_text())
    config["serve"] = settings
    (project / "salesflow.yaml").write_text(yaml.safe_dump(config, allow_unicode=True))
    return project


def connect(port: int, first: bytes = b"") -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.sendall(first)
    sock.setblocking(False)
    return sock


def closed_by_server(sock: socket.socket, trickle: bool) -> bool:
    """Whether the server has closed this connection (sending one more byte if `trickle`)."""
    try:
        if trickle:
            sock.send(b"a")
        return sock.recv(1024) == b""
    except BlockingIOError:
        return False
    except OSError:  # reset: the server dropped it
        return True


def post_julie(server: Server, number: int) -> int:
    payload = {**JULIE, "submissionId": f"c-{number}", "email": f"c{number}@example.org"}
    return server.post("/forms/cours-essai", json=payload).status_code


def test_idle_and_slow_connections_are_closed_in_time_while_a_client_is_served(demo):
    project = with_serve_settings(demo, header_timeout="2s", body_timeout="2s", idle_timeout="2s")
    server = Server(project, "--no-worker")
    try:
        began = time.monotonic()
        attack = [(connect(server.port), False) for _ in range(100)]
        attack += [(connect(server.port, SLOW_HEADERS), True) for _ in range(100)]
        attack += [(connect(server.port, SLOW_BODY), True) for _ in range(100)]
        closed_after: dict[int, float] = {}
        answers = []
        while len(closed_after) < len(attack) and time.monotonic() - began < 15:
            for number, (sock, trickle) in enumerate(attack):  # a byte every ~0.5 s
                if number not in closed_after and closed_by_server(sock, trickle):
                    closed_after[number] = time.monotonic() - began
            answers.append(post_julie(server, len(answers)))
            time.sleep(0.4)
        assert len(closed_after) == 300, f"{300 - len(closed_after)} still open after 15 s"
        assert max(closed_after.values()) < 6  # 2 s for headers (+ 2 s for a body), and slack
        assert answers and set(answers) == {202}, answers
    finally:
        for sock, _ in attack:
            sock.close()
        code, log = server.stop()
    assert code == 0 and "Traceback" not in log, log


def test_past_max_connections_a_request_gets_503_until_connections_are_freed(demo):
    project = with_serve_settings(demo, max_connections=20)
    server = Server(project, "--no-worker")
    idle = [connect(server.port) for _ in range(30)]
    try:
        deadline = time.monotonic() + 10  # until the server has taken them all in
        while (answer := httpx.get(f"{server.url}/healthz", timeout=5)).status_code != 503:
            assert time.monotonic() < deadline, "no 503 with 30 connections over a cap of 20"
            time.sleep(0.1)
        assert answer.headers["connection"] == "close" and answer.headers["retry-after"] == "5"
        assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
    finally:
        for sock in idle:
            sock.close()
    deadline = time.monotonic() + 5
    while httpx.get(f"{server.url}/healthz", timeout=5).status_code != 200:
        assert time.monotonic() < deadline, "still 503 once the idle connections are gone"
        time.sleep(0.1)
    assert post_julie(server, 1) == 202
    code, log = server.stop()
    assert code == 0, log


def lower_descriptor_limit() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))


def test_out_of_file_descriptors_the_worker_lives_and_the_log_stays_short(demo):
    server = Server(demo, preexec_fn=lower_descriptor_limit)  # with its worker
    idle = [connect(server.port) for _ in range(400)]
    time.sleep(2.5)  # the server is out of descriptors for a few of the worker's passes
    for sock in idle:
        sock.close()
    deadline = time.monotonic() + 15
    while True:
        try:
            health = httpx.get(f"{server.url}/healthz", timeout=2)
            if health.status_code == 200 and health.json()["worker"] == "running":
                break
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "not served again once the connections closed"
        time.sleep(0.2)
    assert post_julie(server, 1) == 202
    code, log = server.stop()
    assert code == 0
    lines = [line for line in log.splitlines() if " /healthz " not in line]  # its polls above
    assert len(lines) < 20 and len("".join(lines)) < 4000, f"{len(lines)} lines: {log}"
    assert "Traceback" not in log
    assert sum("cannot take new connections" in line for line in lines) == 1, log
