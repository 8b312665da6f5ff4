"""A running `concierge all` (the binary in $CONCIERGE_BINARY) on a database and a Redis
database of its own, signing in with Google through a fake Google on loopback: tokeninfo
takes tokens `good-<name>` issued to our client, userinfo says who they are."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
import time
import urllib.parse
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

GOOGLE_CLIENT = "concierge-test-google-client"


class FakeGoogle(BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass

    def _answer(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:  # tokeninfo: the token in the form body
        length = int(self.headers.get("content-length", 0))
        form = urllib.parse.parse_qs(self.rfile.read(length).decode())
        token = form.get("access_token", [""])[0]
        if self.path != "/tokeninfo" or not token.startswith("good-"):
            return self._answer(400, {"error": "invalid_token"})
        self._answer(200, {"aud": GOOGLE_CLIENT, "azp": GOOGLE_CLIENT, "sub": "sub-" + token})

    def do_GET(self) -> None:  # userinfo: the token as a bearer
        token = self.headers.get("authorization", "").removeprefix("Bearer ")
        if self.path != "/userinfo" or not token.startswith("good-"):
            return self._answer(401, {"error": "invalid_token"})
        name = token.removeprefix("good-")
        self._answer(200, {"sub": "sub-" + token, "email": f"{name}@example.test", "email_verified": True, "name": name.title()})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def backend(tmp_path_factory: pytest.TempPathFactory) -> str:
    binary = os.environ.get("CONCIERGE_BINARY")
    if not binary:
        pytest.fail("set CONCIERGE_BINARY to the concierge binary (scripts/clients --test does)")
    google = ThreadingHTTPServer(("127.0.0.1", 0), FakeGoogle)
    threading.Thread(target=google.serve_forever, daemon=True).start()
    g = f"http://127.0.0.1:{google.server_port}"
    port = free_port()
    data = tmp_path_factory.mktemp("concierge")
    run = uuid.uuid4().hex[:10]
    db = "concierge_pytest_" + run
    # A clean environment in a scratch directory: no `.env`, no config file, no SMTP or bot
    # of the developer's; loopback only; a database and Redis key prefix of its own.
    env = dict(
        PATH=os.environ.get("PATH", "/usr/bin:/bin"), HOME=str(data),
        DATABASE_URL=f"postgres://postgres@127.0.0.1:5432/{db}",
        REDIS_URL="redis://127.0.0.1:6379", REDIS_KEY_PREFIX="concierge-pytest-" + run,
        SECRET_KEY="pytest-admin-key-" + uuid.uuid4().hex, HOST="127.0.0.1",
        PORT=str(port), BOARD_PORT="0", DATA_DIR=str(data / "data"), RUST_LOG="warn", LOGIN_LOG_FILE="off",
        GOOGLE_CLIENT_ID=GOOGLE_CLIENT, GOOGLE_CLIENT_SECRET="pytest-google-secret",
        GOOGLE_TOKENINFO_URL=f"{g}/tokeninfo", GOOGLE_USERINFO_URL=f"{g}/userinfo",
    )
    server = subprocess.Popen(
        [os.path.abspath(binary), "all"], env=env, cwd=data, stdout=subprocess.DEVNULL, stderr=open(data / "log", "w")
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(120):
        try:
            urllib.request.urlopen(url + "/api/health", timeout=1)
            break
        except OSError:
            if server.poll() is not None:
                pytest.fail("concierge stopped: " + (data / "log").read_text()[-2000:])
            time.sleep(0.25)
    yield url
    server.terminate()
    server.wait(timeout=15)
    drop = f"DROP DATABASE IF EXISTS {db} WITH (FORCE)"
    subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-q", "-c", drop], check=False)
    google.shutdown()
