"""`python -m components.serve [SCRIPT] [streamlit options]`: `streamlit run` (app.py by default) with a Host check.

Binding to 127.0.0.1 does not stop DNS rebinding: a web page on evil.example.com can point its own name at
127.0.0.1 and then talk to this server from the user's browser, with `Host: evil.example.com`. Streamlit's
CORS and XSRF checks do not look at the Host header. So every HTTP request and every WebSocket handshake
whose Host is not localhost, 127.0.0.1 or [::1] (any port), the address the server was told to listen on,
or a name listed in NETWRIGHT_ALLOWED_HOSTS (comma-separated; `*` allows any, for a deliberate share), is
refused: 403 for HTTP, and a WebSocket closed before it is accepted (which the server answers with 403).

Streamlit 1.67 serves through Starlette and uvicorn (streamlit.web.server.starlette); the check wraps the
ASGI app that `UvicornServer.start` builds with `create_starlette_app`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1"})
ENV = "NETWRIGHT_ALLOWED_HOSTS"

Scope = dict[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[dict]], Callable[[dict], Awaitable[None]]], Awaitable[None]]


def host_name(header: str | None) -> str | None:
    """The host of a Host header, lower case, without port or trailing dot: "[::1]:8501" -> "::1"; None if malformed."""
    if not header:
        return None
    text = header.strip().lower()
    if text.startswith("["):
        end = text.find("]")
        if end < 0 or (text[end + 1:] and not text[end + 1:].startswith(":")):
            return None
        host = text[1:end]
    else:
        if text.count(":") > 1:
            return None
        host = text.split(":", 1)[0]
    host = host.rstrip(".")
    return host or None


def allowed_hosts(extra: str | None = None, address: str | None = None) -> frozenset[str]:
    """Loopback names, the address the server listens on (unless it is every interface), and the user's names."""
    names = set(LOOPBACK)
    if address and address not in ("0.0.0.0", "::", ""):
        names.add(address.strip("[]").lower())
    text = os.environ.get(ENV, "") if extra is None else extra
    names.update(host_name(n) or n.strip().lower() for n in text.split(",") if n.strip())
    return frozenset(names)


class HostCheck:
    """ASGI middleware: requests and WebSocket handshakes must carry an allowed Host header."""

    def __init__(self, app: ASGIApp, allowed: Iterable[str]) -> None:
        self.app = app
        self.allowed = frozenset(allowed)

    def allows(self, header: str | None) -> bool:
        if "*" in self.allowed:
            return True
        host = host_name(header)
        return host is not None and host in self.allowed

    async def __call__(self, scope: Scope, receive, send) -> None:
        if scope.get("type") not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        hosts = [v.decode("latin-1") for k, v in scope.get("headers", []) if k.lower() == b"host"]
        if len(hosts) == 1 and self.allows(hosts[0]):
            return await self.app(scope, receive, send)
        if scope["type"] == "websocket":  # closed before accept: uvicorn answers the handshake with 403
            await send({"type": "websocket.close", "code": 1008})
            return
        body = (f"Host not allowed. Open this app at http://localhost or http://127.0.0.1, or add the name to "
                f"{ENV}.\n").encode()
        await send({"type": "http.response.start", "status": 403,
                    "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


def install() -> None:
    """Wrap the app Streamlit's uvicorn server builds in HostCheck (allowed names read when it starts)."""
    from streamlit import config
    from streamlit.web.server.starlette import starlette_server

    build = starlette_server.create_starlette_app
    if getattr(build, "_netwright_host_check", False):
        return

    def create_checked_app(runtime):
        return HostCheck(build(runtime), allowed_hosts(address=config.get_option("server.address")))

    create_checked_app._netwright_host_check = True  # type: ignore[attr-defined]
    starlette_server.create_starlette_app = create_checked_app


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    script = args.pop(0) if args and not args[0].startswith("-") else "app.py"
    install()
    from streamlit.web import cli

    cli.main(["run", script, *args], prog_name="streamlit")


if __name__ == "__main__":
    main()
