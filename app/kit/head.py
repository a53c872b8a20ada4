"""HEAD wherever GET works (RFC 9110 9.3.2): the request runs as a GET, and its status and
headers (Content-Length, ETag, Last-Modified…) are sent without the body. A 405's Allow
header names HEAD wherever it names GET.

In front of access control, so a HEAD needs exactly the scopes of the GET it mirrors; plain
ASGI, so it costs next to nothing.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send


def _allow_head(message: Message) -> Message:
    headers = []
    for name, value in message.get("headers") or ():
        if name.lower() == b"allow":
            methods = [m.strip() for m in value.decode("latin-1").split(",")]
            if "GET" in methods and "HEAD" not in methods:
                methods.insert(methods.index("GET") + 1, "HEAD")
            value = ", ".join(methods).encode("latin-1")
        headers.append((name, value))
    return {**message, "headers": headers}


class HeadAsGet:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        head = scope["method"] == "HEAD"

        async def send_as_asked(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 405:
                message = _allow_head(message)
            elif head and message["type"] == "http.response.body":
                if not message.get("more_body", False):
                    await send({"type": "http.response.body", "body": b"", "more_body": False})
                return
            await send(message)

        await self.app(dict(scope, method="GET") if head else scope, receive, send_as_asked)
