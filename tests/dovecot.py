"""A throwaway IMAP server for the tests: Debian's Dovecot (`dovecot-imapd`), started once per
test session (per xdist worker) in a temporary folder with a config of its own (`dovecot -F
-c FILE`: the system's /etc/dovecot is never read), on loopback ports, one user with a
plain-text password and Maildir storage. The server offers STARTTLS on its plain port and TLS
on a second one, with a self-signed certificate made by `openssl` (the tests trust it through
`cert`).

Dovecot drops privileges to its internal and login users: as root those are Debian's
`dovecot` and `dovenull` accounts (the package creates them) and the mail belongs to
`dovecot`; otherwise every process runs as the current user. Where Dovecot is missing, the
tests that need it skip with one summary line.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

USER, PASSWORD = "replies@club.example", "sol-la-si-do"
DOVECOT = os.environ.get("SALESFLOW_DOVECOT") or shutil.which("dovecot") or "/usr/sbin/dovecot"
CONFIG = """\
instance_name = salesflow-test
base_dir = {folder}/run
state_dir = {folder}/state
protocols = imap
listen = 127.0.0.1
log_path = {folder}/dovecot.log
default_internal_user = {internal}
default_login_user = {login}
mail_uid = {mail}
mail_gid = {group}
first_valid_uid = 0
ssl = yes
ssl_cert = <{folder}/cert.pem
ssl_key = <{folder}/key.pem
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:{folder}/mail/%u
mail_fsync = never
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {folder}/users
}}
userdb {{
  driver = static
  args = uid={mail} gid={group} home={folder}/mail/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {tls_port}
  }}
  chroot =
}}
service anvil {{
  chroot =
}}
"""


def missing() -> str | None:
    """Why the IMAP tests cannot run here, in one line, or None when they can."""
    if not Path(DOVECOT).exists():
        return (
            "IMAP tests skipped: no Dovecot found. Enable them with `apt-get install"
            " dovecot-imapd` (Debian), or SALESFLOW_DOVECOT=/path/to/dovecot."
        )
    if not shutil.which("openssl"):
        return "IMAP tests skipped: no openssl to make the server's certificate."
    return None


MISSING = missing()


def _free_ports(count: int) -> list[int]:
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in socks]


class Dovecot:
    """The test session's IMAP server: `port` (plain, with STARTTLS), `tls_port` (TLS from the
    first byte), `cert` (the self-signed certificate a client must trust), one user."""

    user, password = USER, PASSWORD

    def __init__(self):
        self.folder = Path(tempfile.mkdtemp(prefix="salesflow-imap-"))
        self.port, self.tls_port = _free_ports(2)
        self.cert = self.folder / "cert.pem"
        self.config = self.folder / "dovecot.conf"
        self.process: subprocess.Popen | None = None
        try:
            self._prepare()
            self.process = subprocess.Popen(
                [DOVECOT, "-F", "-c", str(self.config)],
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            )  # fmt: skip
            self._wait_listening()
        except BaseException:
            self.remove()
            raise

    def _prepare(self) -> None:
        root = os.geteuid() == 0
        internal, login = ("dovecot", "dovenull") if root else (getpass.getuser(),) * 2
        account = pwd.getpwnam(internal)
        (self.folder / "mail").mkdir()
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
             "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
             "-keyout", str(self.folder / "key.pem"), "-out", str(self.cert)],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip
        (self.folder / "users").write_text(f"{USER}:{{PLAIN}}{PASSWORD}::::\n")
        self.config.write_text(
            CONFIG.format(folder=self.folder, internal=internal, login=login, mail=internal,
                          group=account.pw_gid, port=self.port, tls_port=self.tls_port)
        )  # fmt: skip
        os.chmod(self.folder, 0o755)  # the login and mail users reach run/ and mail/
        if root:
            os.chown(self.folder / "mail", account.pw_uid, account.pw_gid)

    def _wait_listening(self, seconds: float = 15) -> None:
        deadline = time.monotonic() + seconds
        while True:
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock,
            ):
                sock.settimeout(2)
                if sock.recv(100).startswith(b"* OK"):
                    return
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"dovecot did not start:\n{self._log()}")
            time.sleep(0.05)

    def _log(self) -> str:
        log = self.folder / "dovecot.log"
        errors = b""
        if self.process and self.process.poll() is not None:
            errors = self.process.stderr.read()
        return errors.decode(errors="replace") + (log.read_text() if log.exists() else "")

    def maildir(self, user: str = USER) -> Path:
        """Where the server keeps the user's mail (the INBOX is its top folder)."""
        return self.folder / "mail" / user

    def remove(self) -> None:
        process = self.process
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        shutil.rmtree(self.folder, ignore_errors=True)


@pytest.fixture(scope="session")
def dovecot():
    """The test run's IMAP server (one per xdist worker); the tests that need it skip where
    Dovecot is missing."""
    if MISSING:
        pytest.skip(MISSING)
    server = Dovecot()
    try:
        yield server
    finally:
        server.remove()


def pytest_terminal_summary(terminalreporter) -> None:
    if MISSING:
        terminalreporter.write_line(MISSING, yellow=True)
