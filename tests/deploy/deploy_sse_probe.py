"""A stand-in upstream that proves nginx passes SSE events one by one (runs inside the container).

It answers any request on the app's port with one event, then waits until someone connects to the
release port, and only then sends the second event and ends. A client behind nginx can only open the
release port after it has received the first event, so if nginx held the stream back (buffering,
gzip), the first event would never arrive and the client would time out.

Usage: python3 deploy_sse_probe.py APP_PORT RELEASE_PORT
"""

from __future__ import annotations

import socket
import sys


def _event(number: int) -> bytes:
    return f'id: {number}\nevent: probe\ndata: {{"n": {number}}}\n\n'.encode()


def main() -> None:
    app_port, release_port = int(sys.argv[1]), int(sys.argv[2])
    release = socket.create_server(("127.0.0.1", release_port))
    server = socket.create_server(("127.0.0.1", app_port))
    while True:
        connection, _ = server.accept()
        with connection:
            request = b""
            while b"\r\n\r\n" not in request:
                chunk = connection.recv(4096)
                if not chunk:
                    break
                request += chunk
            connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                               b"Cache-Control: no-cache\r\nConnection: close\r\n\r\n"
                               + _event(1))
            release.settimeout(120)
            try:
                waiter, _ = release.accept()
                waiter.close()
            except TimeoutError:
                continue
            connection.sendall(_event(2))


if __name__ == "__main__":
    main()
