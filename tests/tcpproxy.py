"""A loopback TCP proxy in front of an HTTP endpoint that a test can switch off part-way.

Each client connection carries one request (moto's server closes the connection after every
response), so the proxy reads a request's head, decides, and either relays the exchange, closes
the connection unanswered as a dead network or endpoint would, answers with an S3 error itself
as a throttled or refusing S3 would, or holds the connection silent as a hung endpoint would.

`chaos` makes it a fault injector over a fraction of requests, drawn from a seeded generator:
latency on every relayed request, connection resets (before the request reaches the endpoint,
or after the endpoint acted on it and before the client hears back), and `503 SlowDown`.
`injected` counts each kind of fault it caused.
"""

from __future__ import annotations

import random
import socket
import struct
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus

Request = tuple[str, str]  # (method, path with query)
Matcher = Callable[[Request], bool]


@dataclass
class Fault:
    """What the proxy does instead of relaying a matching request, `times` times (None: always).

    reply None means hold: accept the request and say nothing until the client hangs up.
    """

    matches: Matcher
    reply: bytes | None
    times: int | None


@dataclass
class Chaos:
    """Faults on a fraction of the requests that `matches` accepts, the rest relayed late."""

    rng: random.Random
    latency: float  # seconds before each relayed request goes on
    reset_before: float  # fractions of requests: reset before the endpoint sees it,
    reset_after: float  # reset after the endpoint answered, the answer dropped,
    slow_down: float  # or answered 503 SlowDown by the proxy itself
    matches: Matcher

    def draw(self, request: Request) -> str | None:
        if not self.matches(request):
            return None
        roll = self.rng.random()
        for kind, share in (
            ("reset before", self.reset_before),
            ("reset after", self.reset_after),
            ("503 SlowDown", self.slow_down),
        ):
            if roll < share:
                return kind
            roll -= share
        return None


class Proxy:
    def __init__(self, upstream_url: str) -> None:
        host, port = upstream_url.removeprefix("http://").rstrip("/").split(":")
        self.upstream = (host, int(port))
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.endpoint_url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.passed: list[Request] = []
        self.refused: list[Request] = []
        self.faulted: list[Request] = []
        self._lock = threading.Lock()
        self._open = True
        self._last: Matcher | None = None
        self._fault: Fault | None = None
        self._chaos: Chaos | None = None
        self.injected: Counter[str] = Counter()
        threading.Thread(target=self._accept, daemon=True).start()

    def down(self) -> None:
        with self._lock:
            self._open = False

    def up(self) -> None:
        """Relay everything again: no cut, no fault, no chaos."""
        with self._lock:
            self._open, self._last, self._fault, self._chaos = True, None, None, None

    def chaos(
        self,
        seed: int,
        latency: float = 0.0,
        reset_before: float = 0.0,
        reset_after: float = 0.0,
        slow_down: float = 0.0,
        matches: Matcher | None = None,
    ) -> None:
        """Delay every relayed request by `latency` seconds and fault these fractions of the
        requests `matches` accepts (all by default)."""
        rng = random.Random(seed)
        with self._lock:
            self._chaos = Chaos(
                rng, latency, reset_before, reset_after, slow_down, matches or (lambda r: True)
            )

    def cut_after(self, last: Matcher) -> None:
        """Relay requests until one for which last(request) is true, then go down."""
        with self._lock:
            self._open, self._last = True, last

    def answer(self, matches: Matcher, status: int, code: str, times: int | None = None) -> None:
        """Answer matching requests with an S3 error `code` (first `times` of them, or all)."""
        with self._lock:
            self._fault = Fault(matches, s3_error(status, code), times)

    def hold(self, matches: Matcher) -> None:
        """Accept matching requests and never answer, so the client's read timeout fires."""
        with self._lock:
            self._fault = Fault(matches, None, None)

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
                fault = self._take_fault(request)
                relay = self._open and fault is None
                chaos = self._chaos if relay else None
                mischief = chaos.draw(request) if chaos is not None else None
                if mischief is not None:
                    self.injected[mischief] += 1
                if fault is not None or mischief in ("reset before", "503 SlowDown"):
                    self.faulted.append(request)
                else:
                    (self.passed if relay else self.refused).append(request)
                if relay and self._last is not None and self._last(request):
                    self._open = False
            if chaos is not None and chaos.latency:
                threading.Event().wait(chaos.latency)  # the injected latency itself
            if mischief == "reset before":
                _reset(client)
            elif mischief == "503 SlowDown":
                client.sendall(s3_error(503, "SlowDown"))  # before any body, as below
            elif fault is not None and fault.reply is not None:
                # Before any body: botocore sends PUT bodies after `Expect: 100-continue`, and
                # an early final answer tells it not to send one, as S3 itself does.
                client.sendall(fault.reply)
            elif fault is not None:
                _pump(client, None)
            elif relay:
                with socket.create_connection(self.upstream) as upstream:
                    upstream.sendall(head)
                    threading.Thread(target=_pump, args=(client, upstream), daemon=True).start()
                    # The endpoint acts on the request either way; "reset after" drops its answer.
                    _pump(upstream, None if mischief == "reset after" else client)
                if mischief == "reset after":
                    _reset(client)

    def _take_fault(self, request: Request) -> Fault | None:
        fault = self._fault
        if not self._open or fault is None or fault.times == 0 or not fault.matches(request):
            return None
        if fault.times is not None:
            fault.times -= 1
        return fault


def s3_error(status: int, code: str) -> bytes:
    """An HTTP response as S3 sends an error: XML naming the code, then the connection closes."""
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>injected by the test proxy</Message>"
        "<RequestId>PROXY0000000000</RequestId></Error>"
    ).encode()
    head = (
        f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\n"
        "Content-Type: application/xml\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    return head + body


def _reset(client: socket.socket) -> None:
    """Close with a TCP reset, as a dropped connection reaches the client."""
    client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    client.close()


def _pump(source: socket.socket, sink: socket.socket | None) -> None:
    """Copy until the source closes; with no sink, read and drop (a silent endpoint)."""
    try:
        while chunk := source.recv(65536):
            if sink is not None:
                sink.sendall(chunk)
    except OSError:
        pass
