"""A fake Gemini API on 127.0.0.1, for the real google-genai SDK to talk to.

It stands in for Google's Generative Language REST API, which cannot be reached from here. It
speaks the same wire protocol the SDK uses — `models/{m}:generateContent`,
`:streamGenerateContent?alt=sse`, the resumable File API upload (`upload/{v}/files`, then
`upload, finalize` commands), `files/{id}` and `cachedContents` — under `v1` and `v1beta`, and
checks the `x-goog-api-key` header. What the "model" says is scripted by the test: a queue of
`Reply`s (or a function of the request), including HTTP errors and slow replies. Every request is
recorded so tests can assert what the server sent.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

API_KEY = "test-gemini-key"


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args, **kwargs) -> None:
        pass


@dataclass
class Reply:
    """One model turn: JSON (or raw text), or an HTTP error, streamed in chunks."""

    json: dict | None = None
    text: str | None = None
    status: int = 200
    delay: float = 0.0  # seconds before each chunk (slow models)
    chunk: int = 24  # characters per streamed chunk
    thoughts: str | None = None

    def body_text(self) -> str:
        return self.text if self.text is not None else json.dumps(self.json, ensure_ascii=False)


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: Any
    kind: str


@dataclass
class FakeGemini:
    host: str = "127.0.0.1"
    port: int = 0
    script: deque = field(default_factory=deque)
    responder: Callable[[dict], Reply] | None = None
    requests: list[Recorded] = field(default_factory=list)
    uploads: dict[str, bytes] = field(default_factory=dict)
    deleted: list[str] = field(default_factory=list)
    caches: list[dict] = field(default_factory=list)
    chunks_sent: int = 0  # streamed chunks written so far, all replies together

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._sessions: dict[str, dict] = {}
        self._server = make_server(
            self.host, self.port, self._wsgi, threaded=True, request_handler=_QuietHandler
        )
        self.port = self._server.server_port
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> FakeGemini:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()

    def add(self, *replies: Reply) -> None:
        self.script.extend(replies)

    # --- what was sent ------------------------------------------------------------------------
    def generations(self) -> list[Recorded]:
        return [r for r in self.requests if r.kind == "generate"]

    # --- protocol -----------------------------------------------------------------------------
    def _wsgi(self, environ, start_response):
        request = Request(environ)
        response = self._handle(request)
        return response(environ, start_response)

    def _record(self, request: Request, kind: str, body: Any) -> None:
        with self._lock:
            self.requests.append(
                Recorded(request.method, request.full_path, dict(request.headers), body, kind)
            )

    def _handle(self, request: Request) -> Response:
        path = request.path
        if path.startswith("/upload-session/"):
            return self._upload_chunk(request, path.rsplit("/", 1)[-1])
        if request.headers.get("x-goog-api-key") != API_KEY:
            return _error(401, "API key not valid.", "UNAUTHENTICATED")
        parts = path.strip("/").split("/")
        if parts[0] == "upload" and parts[-1] == "files" and request.method == "POST":
            return self._upload_start(request)
        if len(parts) < 2 or parts[0] not in ("v1", "v1beta"):
            return _error(404, f"unknown path {path}", "NOT_FOUND")
        rest = "/".join(parts[1:])
        if rest.startswith("models/") and ":" in rest:
            model, method = rest[len("models/") :].split(":", 1)
            body = request.get_json(force=True)
            self._record(request, "generate", {"model": model, "method": method, **body})
            return self._generate(model, method, body)
        if rest.startswith("files/") and request.method == "DELETE":
            self._record(request, "delete_file", None)
            self.deleted.append(rest)
            return Response("{}", mimetype="application/json")
        if rest.startswith("files/") and request.method == "GET":
            name = rest.split("/", 1)[1]
            return Response(json.dumps(self._file(name)), mimetype="application/json")
        if rest == "cachedContents" and request.method == "POST":
            body = request.get_json(force=True)
            self._record(request, "cache", body)
            name = f"cachedContents/{uuid.uuid4().hex[:12]}"
            self.caches.append({"name": name, **body})
            return Response(
                json.dumps({"name": name, "model": body.get("model")}), mimetype="application/json"
            )
        return _error(404, f"unknown path {path}", "NOT_FOUND")

    def _upload_start(self, request: Request) -> Response:
        body = request.get_json(force=True, silent=True) or {}
        self._record(request, "upload_start", body)
        session = uuid.uuid4().hex
        self._sessions[session] = {"data": b"", "meta": body.get("file", {})}
        response = Response("{}", mimetype="application/json")
        response.headers["X-Goog-Upload-URL"] = f"{self.url}/upload-session/{session}"
        response.headers["X-Goog-Upload-Status"] = "active"
        return response

    def _file(self, file_id: str) -> dict:
        data = self.uploads.get(file_id, b"")
        return {
            "name": f"files/{file_id}",
            "uri": f"{self.url}/v1beta/files/{file_id}",
            "mimeType": "image/png",
            "sizeBytes": str(len(data)),
            "state": "ACTIVE",
        }

    def _upload_chunk(self, request: Request, session_id: str) -> Response:
        session = self._sessions.get(session_id)
        if session is None:
            return _error(404, "no such upload session", "NOT_FOUND")
        session["data"] += request.get_data()
        command = request.headers.get("X-Goog-Upload-Command", "")
        if "finalize" not in command:
            response = Response("", status=200)
            response.headers["X-Goog-Upload-Status"] = "active"
            return response
        file_id = uuid.uuid4().hex[:16]
        with self._lock:
            self.uploads[file_id] = session.pop("data")
        self._record(
            request,
            "upload",
            {"file_id": file_id, "display_name": session["meta"].get("displayName")},
        )
        response = Response(json.dumps({"file": self._file(file_id)}), mimetype="application/json")
        response.headers["X-Goog-Upload-Status"] = "final"
        return response

    def _next_reply(self, body: dict) -> Reply:
        with self._lock:
            if self.script:
                return self.script.popleft()
        if self.responder is not None:
            return self.responder(body)
        return Reply(status=500, text="the fake model's script is exhausted")

    def _generate(self, model: str, method: str, body: dict) -> Response:
        reply = self._next_reply(body)
        if reply.status != 200:
            if reply.delay:
                time.sleep(reply.delay)
            return _error(
                reply.status,
                reply.text or "scripted failure",
                "RESOURCE_EXHAUSTED" if reply.status == 429 else "INTERNAL",
            )
        text = reply.body_text()
        usage = {
            "promptTokenCount": len(json.dumps(body)) // 4,
            "candidatesTokenCount": len(text) // 4,
        }
        if method.startswith("generateContent"):
            if reply.delay:
                time.sleep(reply.delay)
            return Response(
                json.dumps(_response(text, reply.thoughts, usage)), mimetype="application/json"
            )

        def chunks():
            if reply.thoughts:
                yield _sse(_response(reply.thoughts, None, None, thought=True))
            for start in range(0, len(text), reply.chunk):
                if reply.delay:
                    time.sleep(reply.delay)
                last = start + reply.chunk >= len(text)
                self.chunks_sent += 1
                yield _sse(
                    _response(
                        text[start : start + reply.chunk],
                        None,
                        usage if last else None,
                        finish=last,
                    )
                )

        return Response(chunks(), mimetype="text/event-stream")


def _response(
    text: str, thoughts: str | None, usage: dict | None, thought: bool = False, finish: bool = True
) -> dict:
    parts = []
    if thoughts:
        parts.append({"text": thoughts, "thought": True})
    parts.append({"text": text, "thought": True} if thought else {"text": text})
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
    if finish:
        candidate["finishReason"] = "STOP"
    body: dict[str, Any] = {"candidates": [candidate]}
    if usage:
        body["usageMetadata"] = usage
    return body


def _sse(payload: dict) -> bytes:
    return f"data: {json.dumps(payload, ensure_ascii=False)}\r\n\r\n".encode()


def _error(status: int, message: str, code: str) -> Response:
    body = {"error": {"code": status, "message": message, "status": code}}
    return Response(json.dumps(body), status=status, mimetype="application/json")
