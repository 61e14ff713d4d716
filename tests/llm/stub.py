"""A provider stub on loopback, answering in the OpenAI and Anthropic formats.

Each request takes the next :class:`Reply` of the script (then the default one): a status, a
body or an answer text, headers, a latency, or a dropped connection. Requests are recorded
(path, headers, JSON body) and the most ever in flight at once is counted.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    """One scripted answer."""

    status: int = 200
    content: str = '{"verdict": "pong"}'
    body: Any = None  # a whole body (dict or str) instead of the default answer
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    drop: bool = False  # close the connection without answering


@dataclass
class Seen:
    """One request as the stub received it."""

    path: str
    headers: dict[str, str]
    body: dict[str, Any]


def openai_answer(content: str, model: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-stub",
        "object": "chat.completion",
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120},
    }


def anthropic_answer(content: str, model: str) -> dict[str, Any]:
    return {
        "id": "msg_stub",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": content}],
        "stop_reason": "end_turn",
        "usage": {"input_tokens": 100, "output_tokens": 20, "cache_read_input_tokens": 0},
    }


class StubServer:
    """``with StubServer(latency=0.5) as stub:`` serves on ``stub.url`` until the block ends
    (on a free loopback port, or on ``port``)."""

    def __init__(
        self,
        latency: float = 0.0,
        content: str = '{"verdict": "pong"}',
        responder: Callable[[dict[str, Any]], str] | None = None,
        port: int = 0,
    ) -> None:
        self.default = Reply(content=content, delay=latency)
        #: Makes the default answer's text from the request body (agents' scripted answers).
        self.responder = responder
        self.script: deque[Reply] = deque()
        #: Replies for one path only (``/v1/messages``), taken before the shared script.
        self.by_path: dict[str, deque[Reply]] = {}
        self.seen: list[Seen] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                return

            def setup(self) -> None:
                super().setup()
                # Headers and body go out in two writes: without this, Nagle's algorithm and
                # the client's delayed ACK add ~40 ms to every answer.
                self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length)
                body = json.loads(raw) if raw else {}
                with stub._lock:
                    stub.seen.append(
                        Seen(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                    )
                    own = stub.by_path.get(self.path)
                    if own:
                        reply = own.popleft()
                    else:
                        reply = stub.script.popleft() if stub.script else stub.default
                    stub.in_flight += 1
                    stub.max_in_flight = max(stub.max_in_flight, stub.in_flight)
                try:
                    time.sleep(reply.delay)
                    if reply.drop:
                        self.close_connection = True
                        return
                    content = reply.content
                    if reply is stub.default and stub.responder is not None:
                        content = stub.responder(body)
                    if reply.body is not None:
                        data = reply.body
                    elif self.path.endswith("/messages"):
                        data = anthropic_answer(content, str(body.get("model")))
                    else:
                        data = openai_answer(content, str(body.get("model")))
                    payload = (data if isinstance(data, str) else json.dumps(data)).encode()
                    self.send_response(reply.status)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(payload)))
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(payload)
                finally:
                    with stub._lock:
                        stub.in_flight -= 1

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> StubServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
