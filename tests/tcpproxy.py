"""A loopback TCP proxy in front of an HTTP endpoint that a test can switch off part-way.

Each client connection carries one request (moto's server closes the connection after every
response), so the proxy reads a request's head, decides, and either relays the exchange or
closes the connection unanswered, as a dead network or endpoint would.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable

Request = tuple[str, str]  # (method, path with query)


class Proxy:
    def __init__(self, upstream_url: str) -> None:
        host, port = upstream_url.removeprefix("http://").rstrip("/").split(":")
        self.upstream = (host, int(port))
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.endpoint_url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.passed: list[Request] = []
        self.refused: list[Request] = []
        self._lock = threading.Lock()
        self._open = True
        self._last: Callable[[Request], bool] | None = None
        threading.Thread(target=self._accept, daemon=True).start()

    def down(self) -> None:
        with self._lock:
            self._open = False

    def up(self) -> None:
        with self._lock:
            self._open, self._last = True, None

    def cut_after(self, last: Callable[[Request], bool]) -> None:
        """Relay requests until one for which last(request) is true, then go down."""
        with self._lock:
            self._open, self._last = True, last

    def close(self) -> None:
        self.listener.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        with client:
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = client.recv(65536)
                if not chunk:
                    return
                head += chunk
            method, path = head.split(b" ", 2)[:2]
            request = (method.decode(), path.decode())
            with self._lock:
                relay = self._open
                (self.passed if relay else self.refused).append(request)
                if relay and self._last is not None and self._last(request):
                    self._open = False
            if relay:
                with socket.create_connection(self.upstream) as upstream:
                    upstream.sendall(head)
                    threading.Thread(target=_pump, args=(client, upstream), daemon=True).start()
                    _pump(upstream, client)


def _pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while chunk := source.recv(65536):
            sink.sendall(chunk)
    except OSError:
        pass
