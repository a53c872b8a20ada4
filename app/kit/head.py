"""HEAD wherever GET works (RFC 9110 9.3.2): the request runs as a GET, and its status and
headers (Content-Length, ETag, Last-Modified…) are sent without the body.

In front of access control, so a HEAD needs exactly the scopes of the GET it mirrors; plain
ASGI, so it costs nothing on other methods.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class HeadAsGet:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def headers_only(message: Message) -> None:
            if message["type"] == "http.response.body":
                if not message.get("more_body", False):
                    await send({"type": "http.response.body", "body": b"", "more_body": False})
                return
            await send(message)

        await self.app(dict(scope, method="GET"), receive, headers_only)
