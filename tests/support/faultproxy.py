"""A TCP proxy on 127.0.0.1 that puts network faults between the app and a real service.

It stands in for the network (and for a service's host going away), not for any service: the
bytes are those of the real PostgREST stand-in, moto or fake Gemini behind it. Modes:

- `up`: bytes pass both ways;
- `down`: the port is closed (connection refused) and open connections are cut, as when the
  service's host or process is gone; `up` again listens on the same port;
- `hang`: connections are accepted and requests read, but nothing comes back (a service that
  stalls past every timeout);
- `up` with `delay`: each chunk from the service is held `delay` seconds (a slow service).
"""

from __future__ import annotations

import select
import socket
import threading
from typing import Literal

Mode = Literal["up", "down", "hang"]


class FaultProxy:
    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self.mode: Mode = "up"
        self.delay = 0.0
        self._lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        self._listener: socket.socket | None = None
        self.port = 0
        self._listen()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def set(self, mode: Mode, delay: float = 0.0) -> None:
        """Switch mode; leaving `hang` or going `down` cuts what is open (the stalled requests
        then fail as they would when a timeout gives up on them)."""
        with self._lock:
            previous, self.mode, self.delay = self.mode, mode, delay
        if mode == "down":
            self._close_listener()
        if mode == "down" or previous == "hang":
            self._cut_all()
        if mode != "down" and self._listener is None:
            self._listen()

    def close(self) -> None:
        self.set("down")

    # --- internals ----------------------------------------------------------------------------
    def _listen(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(128)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _close_listener(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            try:
                listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            listener.close()

    def _cut_all(self) -> None:
        with self._lock:
            connections, self._connections = self._connections, set()
        for sock in connections:
            _close(sock)

    def _track(self, sock: socket.socket) -> None:
        with self._lock:
            self._connections.add(sock)

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # closed: `down`
            self._track(client)
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        if self.mode == "hang":
            _drain(client)  # read until cut; answer nothing
            return
        try:
            upstream = socket.create_connection(self.target, timeout=5)
        except OSError:
            _close(client)
            return
        self._track(upstream)
        pair = {client: upstream, upstream: client}
        try:
            while True:
                readable, _, _ = select.select(list(pair), [], [], 1.0)
                if self.mode == "hang":
                    threading.Event().wait(0.05)  # stall mid-answer
                    continue
                for sock in readable:
                    data = sock.recv(65536)
                    if not data:
                        return
                    if sock is upstream and self.delay:
                        threading.Event().wait(self.delay)
                    pair[sock].sendall(data)
        except (OSError, ValueError):
            return
        finally:
            _close(client)
            _close(upstream)


def _drain(sock: socket.socket) -> None:
    try:
        while sock.recv(65536):
            pass
    except (OSError, ValueError):
        pass
    _close(sock)


def _close(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()
