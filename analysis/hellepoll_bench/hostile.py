"""Hostile clients for the soak: what an exposed server meets, on a loop.

Each kind is one function run on its own thread until `stop` is set; it
counts the connections it made and what the server did with each one
(the status it answered, or "closed" / "reset" / "timeout" when it said
nothing). The C++ suites (variants/hostile_test.cc) check each behaviour
once; these repeat them for minutes so that a leak or a stuck state shows
as drift in the server's memory and descriptors.

  slowloris        hundreds of connections, one header byte a second each
  vanish_request   a partial request, then FIN or RST
  vanish_response  2,000 pipelined GETs, 1 KB of the answers read, then FIN or RST
  never_read       pipelines until the socket is full and never reads (8 s or 25 s)
  flood            pipelines without pause and reads every answer at once (5 s a connection)
  oversize         head, line, header count and body over the limits
  smuggling        CL+TE, TE+CL, duplicate and malformed framing, a GET behind each
  garbage          random bytes
  storm            connections opened and dropped at once (FIN, RST, one byte + RST)
  http2            the HTTP/2 prior-knowledge preface
"""

import collections
import random
import select
import socket
import struct
import threading
import time
from typing import Callable, Dict, List, Optional

GET = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n"
H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"


class Tally:
    """One kind's counts; written by its thread only, read when it is done."""

    def __init__(self):
        self.connections = 0
        self.outcomes: Dict[str, int] = collections.Counter()

    def as_dict(self) -> Dict:
        return {"connections": self.connections, "outcomes": dict(sorted(self.outcomes.items()))}


def _connect(port: int, tally: Tally, timeout_s: float = 2.0) -> Optional[socket.socket]:
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=timeout_s)
    except OSError:
        tally.outcomes["connect_failed"] += 1
        return None
    tally.connections += 1
    return s


def _reset(s: socket.socket) -> None:
    """Close with RST (SO_LINGER 0), as a client that vanishes does."""
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    s.close()


def _answer(s: socket.socket, timeout_s: float = 3.0) -> str:
    """What the server did: its status ("400"), else "closed", "reset" or "timeout"."""
    s.settimeout(timeout_s)
    data = b""
    try:
        while b"\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    except socket.timeout:
        return "timeout" if not data else _status(data)
    except OSError:
        return "reset" if not data else _status(data)
    return _status(data) if data else "closed"


def _status(data: bytes) -> str:
    parts = data.split(b" ", 2)
    if len(parts) >= 2 and parts[0].startswith(b"HTTP/") and parts[1].isdigit():
        return parts[1].decode()
    return "garbled"


def _one_shot(port: int, tally: Tally, payload: bytes, then_get: bool = False) -> None:
    """Send payload (and a GET behind it), record the answer, and whether the GET was answered."""
    s = _connect(port, tally)
    if s is None:
        return
    try:
        s.sendall(payload + (GET if then_get else b""))
        outcome = _answer(s)
        tally.outcomes[outcome] += 1
        if then_get and outcome not in ("closed", "reset", "timeout"):
            # The refused request must end the connection: an answer to the
            # GET behind it would mean the framing was read two ways.
            rest = b""
            try:
                s.settimeout(2.0)
                while True:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    rest += chunk
            except OSError:
                pass
            if b"Hello World" in rest:
                tally.outcomes["SMUGGLED_GET_ANSWERED"] += 1
    except OSError:
        tally.outcomes["reset"] += 1
    finally:
        s.close()


# ---------------------------------------------------------------------------
# The kinds
# ---------------------------------------------------------------------------
def slowloris(port: int, stop: threading.Event, tally: Tally, connections: int = 200,
              interval_s: float = 1.0) -> None:
    """Keep `connections` heads trickling a byte each per interval; replace those the server ends."""
    head = b"GET / HTTP/1.1\r\nHost: t\r\nX-Slow: "
    socks: List[List] = []  # [socket, bytes sent]
    try:
        while not stop.is_set():
            while len(socks) < connections and not stop.is_set():
                s = _connect(port, tally)
                if s is None:
                    break
                s.setblocking(False)
                socks.append([s, 0])
            alive = []
            for entry in socks:
                s, sent = entry
                byte = head[sent:sent + 1] or b"a"  # never ends the head
                try:
                    s.send(byte)
                    entry[1] = sent + 1
                    data = s.recv(4096)  # the server ended it: 408, or a close
                    tally.outcomes[_status(data) if data else "closed"] += 1
                    s.close()
                    continue
                except BlockingIOError:
                    alive.append(entry)  # still waiting for the rest of its head
                except OSError:
                    tally.outcomes["reset"] += 1
                    s.close()
            socks = alive
            stop.wait(interval_s)
    finally:
        for s, _ in socks:
            s.close()


def vanish_request(port: int, stop: threading.Event, tally: Tally) -> None:
    partials = [
        b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 50\r\n\r\nabc",
        b"GET / HTTP/1.1\r\nHost: t\r\nX-Half: ",
        b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nabc",
    ]
    i = 0
    while not stop.is_set():
        s = _connect(port, tally)
        if s is not None:
            try:
                s.sendall(partials[i % len(partials)])
            except OSError:
                pass
            if i % 2:
                _reset(s)
                tally.outcomes["client_reset"] += 1
            else:
                s.close()
                tally.outcomes["client_fin"] += 1
        i += 1
        stop.wait(0.05)


def vanish_response(port: int, stop: threading.Event, tally: Tally) -> None:
    batch = GET * 2000  # ~260 KB of answers
    i = 0
    while not stop.is_set():
        s = _connect(port, tally)
        if s is not None:
            try:
                s.sendall(batch)
                s.recv(1000)
            except OSError:
                pass
            if i % 2:
                _reset(s)
                tally.outcomes["client_reset"] += 1
            else:
                s.close()  # FIN with unread answers: the kernel sends RST
                tally.outcomes["client_fin"] += 1
        i += 1
        stop.wait(0.2)


def never_read(port: int, stop: threading.Event, tally: Tally, at_once: int = 4) -> None:
    """Pipeline until the socket is full, never read; held 8 s, or 25 s (past the write timeout)."""
    batch = GET * 1000
    held: List[List] = []  # [socket, deadline, bytes sent]
    i = 0
    clock = time.monotonic
    try:
        while not stop.is_set():
            while len(held) < at_once:
                s = _connect(port, tally)
                if s is None:
                    break
                s.setblocking(False)
                held.append([s, clock() + (25.0 if i % 4 == 3 else 8.0), 0])
                i += 1
            kept = []
            for entry in held:
                s, deadline, sent = entry
                if clock() >= deadline:
                    _reset(s)
                    tally.outcomes["held_then_reset"] += 1
                    continue
                try:
                    while sent < 8 << 20:  # at most 8 MB of requests
                        sent += s.send(batch)
                    entry[2] = sent
                    kept.append(entry)
                except BlockingIOError:
                    entry[2] = sent
                    kept.append(entry)  # full: the server has stopped reading it
                except OSError:
                    tally.outcomes["closed_by_server"] += 1  # e.g. the write timeout
                    s.close()
            held = kept
            stop.wait(0.5)
    finally:
        for s, _, _ in held:
            _reset(s)


def flood(port: int, stop: threading.Event, tally: Tally, seconds: float = 5.0) -> None:
    """One connection at a time pipelines GETs without pause and reads every answer as it comes,
    so the worker never runs out of work for it; after `seconds` it vanishes (RST, answers unread)
    and the next one starts. The good client beside it must keep being served."""
    batch = GET * 4096
    clock = time.monotonic
    while not stop.is_set():
        s = _connect(port, tally)
        if s is None:
            stop.wait(0.5)
            continue
        s.setblocking(False)
        answered = 0
        outcome = None
        until = clock() + seconds
        try:
            while outcome is None and not stop.is_set() and clock() < until:
                readable, writable, _ = select.select([s], [s], [], 0.5)
                if writable:
                    try:
                        s.send(batch)
                    except BlockingIOError:
                        pass
                if readable:
                    chunk = s.recv(1 << 20)
                    if chunk:
                        answered += len(chunk)
                    else:
                        outcome = "closed_by_server"
        except OSError:
            outcome = "reset"
        finally:
            _reset(s)
        tally.outcomes[outcome or ("answered" if answered else "never_answered")] += 1


def oversize(port: int, stop: threading.Event, tally: Tally) -> None:
    many = b"GET / HTTP/1.1\r\nHost: t\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(300))
    cases = [
        b"GET / HTTP/1.1\r\nHost: t\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n",  # 431
        b"GET /" + b"a" * 20000 + b" HTTP/1.1\r\nHost: t\r\n\r\n",  # 414
        many + b"\r\n",  # 431
        b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 2000000\r\n\r\n",  # 413
        b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
        + (b"10000\r\n" + b"x" * 0x10000 + b"\r\n") * 17 + b"0\r\n\r\n",  # 413 (1.1 MB)
    ]
    i = 0
    while not stop.is_set():
        _one_shot(port, tally, cases[i % len(cases)])
        i += 1
        stop.wait(0.05)


def smuggling(port: int, stop: threading.Event, tally: Tally) -> None:
    post = b"POST / HTTP/1.1\r\nHost: t\r\n"
    chunked = b"\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
    cases = [
        post + b"Content-Length: 4\r\nTransfer-Encoding: chunked" + chunked,
        post + b"Transfer-Encoding: chunked\r\nContent-Length: 4" + chunked,
        post + b"Content-Length: 4\r\nContent-Length: 5\r\n\r\nabcd",
        post + b"Content-Length: 4, 4\r\n\r\nabcd",
        post + b"Transfer-Encoding: xchunked" + chunked,
        post + b"Transfer-Encoding:\r\n chunked" + chunked,
        post + b"Transfer-Encoding : chunked" + chunked,
        b"GET / HTTP/1.1\nHost: t\n\n",
    ]
    i = 0
    while not stop.is_set():
        _one_shot(port, tally, cases[i % len(cases)], then_get=True)
        i += 1
        stop.wait(0.05)


def garbage(port: int, stop: threading.Event, tally: Tally) -> None:
    rng = random.Random(42)
    while not stop.is_set():
        n = rng.randint(1, 4096)
        payload = bytes(rng.getrandbits(8) for _ in range(n))
        if rng.random() < 0.3:
            payload = b"GET /" + payload  # a valid start, then noise
        _one_shot(port, tally, payload + b"\r\n\r\n")
        stop.wait(0.05)


def storm(port: int, stop: threading.Event, tally: Tally) -> None:
    """Connections opened and dropped at once, ~200 a second."""
    i = 0
    while not stop.is_set():
        s = _connect(port, tally)
        if s is not None:
            how = i % 3
            if how == 0:
                s.close()
                tally.outcomes["client_fin"] += 1
            else:
                if how == 2:
                    try:
                        s.send(b"G")
                    except OSError:
                        pass
                _reset(s)
                tally.outcomes["client_reset"] += 1
        i += 1
        if i % 20 == 0:
            stop.wait(0.1)


def http2(port: int, stop: threading.Event, tally: Tally) -> None:
    while not stop.is_set():
        _one_shot(port, tally, H2_PREFACE)
        stop.wait(0.1)


KINDS: Dict[str, Callable] = {
    "slowloris": slowloris,
    "vanish_request": vanish_request,
    "vanish_response": vanish_response,
    "never_read": never_read,
    "flood": flood,
    "oversize": oversize,
    "smuggling": smuggling,
    "garbage": garbage,
    "storm": storm,
    "http2": http2,
}


class Hostiles:
    """Every kind on its own daemon thread, until stop()."""

    def __init__(self, port: int, kinds: Optional[List[str]] = None, slowloris_connections: int = 200):
        self.port = port
        self.kinds = list(kinds or KINDS)
        self.stop_event = threading.Event()
        self.tallies = {k: Tally() for k in self.kinds}
        self.threads = []
        self.slowloris_connections = slowloris_connections

    def start(self) -> None:
        for kind in self.kinds:
            kwargs = {"connections": self.slowloris_connections} if kind == "slowloris" else {}
            t = threading.Thread(target=self._run, args=(kind, kwargs), name="hostile-" + kind,
                                 daemon=True)
            t.start()
            self.threads.append(t)

    def _run(self, kind: str, kwargs: Dict) -> None:
        try:
            KINDS[kind](self.port, self.stop_event, self.tallies[kind], **kwargs)
        except Exception as e:  # pylint: disable=broad-except
            # A client bug must show in the report, not end the soak silently.
            self.tallies[kind].outcomes["client_crashed: %s" % type(e).__name__] += 1

    def stop(self, timeout_s: float = 10.0) -> None:
        self.stop_event.set()
        for t in self.threads:
            t.join(timeout_s)

    def counts(self) -> Dict[str, Dict]:
        return {k: self.tallies[k].as_dict() for k in self.kinds}
