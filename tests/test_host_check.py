"""DNS rebinding: a real server (components.serve, as `make run` starts it) refuses HTTP requests and
WebSocket handshakes whose Host is not this machine or a configured name (issue 16)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import socket
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from streamlit_server import serve_streamlit  # noqa: E402

from components.serve import HostCheck, allowed_hosts, host_name  # noqa: E402

WS_KEY = "dGhlIHNhbXBsZSBub25jZQ=="



def _run(coro):
    """asyncio.run in a thread of its own: a sync Playwright test earlier on this worker may have
    left an event loop running in the main thread."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()

def _status(url: str, host: str, path: str, websocket: bool = False) -> int:
    """The HTTP status a raw request with this Host header gets (a WebSocket upgrade when asked)."""
    port = int(url.rsplit(":", 1)[1])
    lines = [f"GET {path} HTTP/1.1", f"Host: {host}", f"Origin: http://{host}"]
    if websocket:
        lines += ["Upgrade: websocket", "Connection: Upgrade", f"Sec-WebSocket-Key: {WS_KEY}", "Sec-WebSocket-Version: 13"]
    else:
        lines += ["Connection: close"]
    with socket.create_connection(("127.0.0.1", port), timeout=20) as s:
        s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        head = s.recv(4096).split(b"\r\n", 1)[0].decode()
    return int(head.split()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    script = tmp_path_factory.mktemp("app") / "page.py"
    script.write_text("import streamlit as st\nst.write('hello')\n")
    with serve_streamlit(script, env={"NETWRIGHT_ALLOWED_HOSTS": "netwright.lan"}) as url:
        yield url


def test_a_foreign_host_is_refused_for_http_and_websocket(server):
    assert _status(server, "evil.example.com", "/") == 403
    assert _status(server, "evil.example.com:8501", "/_stcore/health") == 403
    assert _status(server, "evil.example.com", "/_stcore/stream", websocket=True) == 403
    assert _status(server, "127.0.0.1.evil.example.com", "/_stcore/stream", websocket=True) == 403
    assert _status(server, "localhost@evil.example.com", "/") in (400, 403)


def test_this_machine_and_configured_names_are_served(server):
    port = server.rsplit(":", 1)[1]
    assert _status(server, f"localhost:{port}", "/") == 200
    assert _status(server, f"127.0.0.1:{port}", "/_stcore/health") == 200
    assert _status(server, f"[::1]:{port}", "/_stcore/health") == 200
    assert _status(server, f"127.0.0.1:{port}", "/_stcore/stream", websocket=True) == 101
    assert _status(server, "netwright.lan", "/_stcore/stream", websocket=True) == 101  # NETWRIGHT_ALLOWED_HOSTS


def test_host_names_are_parsed_strictly():
    assert host_name("LOCALHOST.:8501") == "localhost"
    assert host_name("[::1]:8501") == "::1"
    assert host_name("[::1]x") is None and host_name("a:b:c") is None and host_name("") is None
    assert allowed_hosts("a.lan, B.lan:9000", address="0.0.0.0") == {"localhost", "127.0.0.1", "::1", "a.lan", "b.lan"}
    assert "192.168.1.5" in allowed_hosts("", address="192.168.1.5")


def test_a_request_without_a_host_or_with_two_is_refused():
    sent: list[dict] = []

    async def app(scope, receive, send):
        sent.append({"type": "app"})

    async def send(message):
        sent.append(message)

    check = HostCheck(app, allowed_hosts(""))
    for headers in ([], [(b"host", b"localhost"), (b"host", b"evil.example.com")]):
        sent.clear()
        _run(check({"type": "http", "headers": headers}, None, send))
        assert sent[0]["type"] == "http.response.start" and sent[0]["status"] == 403
    sent.clear()
    _run(check({"type": "http", "headers": [(b"host", b"localhost:1")]}, None, send))
    assert sent == [{"type": "app"}]
    open_all = HostCheck(app, allowed_hosts("*"))
    sent.clear()
    _run(open_all({"type": "websocket", "headers": [(b"host", b"anything.example")]}, None, send))
    assert sent == [{"type": "app"}]
