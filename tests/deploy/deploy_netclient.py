"""HTTP(S) client the converge test runs inside the container's network namespace.

Usage: python deploy_netclient.py REQUEST_JSON  ->  prints one JSON answer.
The request names the server name (SNI, Host header and certificate check), the address to
connect to, the CA file to trust, method, path, headers and body. With "sse": true the body is
read as an event stream, one read at a time, and the answer lists the events and in how many
reads they arrived, and "cut": true when the connection broke before the stream's end.
"declared_length": N sends only the headers of an N-byte body, never the body: a proxy that
refuses it by its Content-Length, or an app that answers before reading it, answers at once.
"""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import sys


def _connection(request: dict) -> http.client.HTTPConnection:
    name, address, port = request["name"], request.get("address", "127.0.0.1"), request["port"]
    raw = socket.create_connection((address, port), timeout=request.get("timeout", 30))
    if request.get("scheme", "https") == "http":
        connection = http.client.HTTPConnection(name, port)
        connection.sock = raw
        return connection
    context = ssl.create_default_context(cafile=request["ca"])
    connection = http.client.HTTPSConnection(name, port, context=context)
    connection.sock = context.wrap_socket(raw, server_hostname=name)
    return connection


def _read_events(response: http.client.HTTPResponse, limit: int, release_port: int = 0,
                 ) -> tuple[list[dict], int, bool]:
    """Parse SSE events as they arrive; count the reads that completed at least one event.

    With release_port, connect to it once the first event has arrived (see deploy_sse_probe).
    """
    events: list[dict] = []
    buffer = b""
    reads_with_events = 0
    while len(events) < limit:
        try:
            chunk = response.read1(65536)
        except (http.client.HTTPException, OSError):  # the server went away mid-stream
            return events, reads_with_events, True
        if not chunk:
            break
        buffer += chunk
        completed = 0
        while b"\n\n" in buffer:
            block, buffer = buffer.split(b"\n\n", 1)
            fields: dict = {}
            for line in block.decode("utf-8").splitlines():
                if line.startswith(":"):
                    continue
                key, _, value = line.partition(":")
                fields[key] = value[1:] if value.startswith(" ") else value
            if fields:
                events.append(fields)
                completed += 1
        if completed:
            reads_with_events += 1
            if release_port and reads_with_events == 1:
                socket.create_connection(("127.0.0.1", release_port), timeout=10).close()
        if events and events[-1].get("event") in ("completed", "error"):
            break
    return events, reads_with_events, False


def main() -> None:
    request = json.loads(sys.argv[1])
    connection = _connection(request)
    issuer = None
    if request.get("scheme", "https") == "https":  # now: a server that answers and closes
        certificate = connection.sock.getpeercert()  # (a 413, say) takes the socket with it
        issuer = [dict(part) for part in certificate.get("issuer", [])]
    body = request.get("json")
    headers = dict(request.get("headers", {}))
    payload = None
    if body is not None:
        payload = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    if "declared_length" in request:  # headers only: a body announced, never sent
        connection.putrequest(request.get("method", "POST"), request["path"])
        for name, value in {**headers, "Content-Length": str(request["declared_length"])}.items():
            connection.putheader(name, value)
        connection.endheaders()
    else:
        connection.request(request.get("method", "GET"), request["path"], body=payload,
                           headers=headers)
    response = connection.getresponse()
    answer: dict = {"status": response.status,
                    "headers": {k.lower(): v for k, v in response.getheaders()}}
    if issuer is not None:
        answer["issuer"] = issuer
    if request.get("sse") and response.status == 200:
        answer["events"], answer["reads_with_events"], answer["cut"] = _read_events(
            response, request.get("limit", 500), request.get("release_port", 0))
    else:
        answer["body"] = response.read().decode("utf-8", "replace")
    print(json.dumps(answer))


if __name__ == "__main__":
    main()
