"""A fake Gemini API on 127.0.0.1, for the real google-genai SDK to talk to.

It stands in for Google's Generative Language REST API, which cannot be reached from here. It
speaks the same wire protocol the SDK uses — `models/{m}:generateContent`,
`:streamGenerateContent?alt=sse`, the resumable File API upload (`upload/{v}/files`, then
`upload, finalize` commands), `files/{id}` GET/DELETE and `cachedContents` POST/GET/DELETE —
under `v1` and `v1beta`. What the "model" says is scripted by the test: a queue of `Reply`s (or a
function of the request). Every request is recorded (also the refused ones) so tests can assert
what the server sent; a refused request does not consume a scripted reply. Like the API (proto
JSON), it reads every field by its JSON or its proto name: google-genai writes nested fields in
snake case (`thinking_budget`, `property_ordering`, `mime_type`).

It refuses what the real API refuses, with the same HTTP status, `status` and message shape
(the google-genai SDK turns them into `errors.ClientError` / `errors.ServerError`):

- API key (`x-goog-api-key`): missing → 403 PERMISSION_DENIED ("Method doesn't allow
  unregistered callers…"); not one of `api_keys` → 400 INVALID_ARGUMENT "API key not valid.
  Please pass a valid API key." with a `google.rpc.ErrorInfo` detail, reason `API_KEY_INVALID`.
- Unknown model (not in `models`) → 404 NOT_FOUND "models/x is not found for API version
  v1beta, or is not supported for generateContent…".
- `cachedContent` together with `systemInstruction`, `tools` or `toolConfig` → 400
  INVALID_ARGUMENT "CachedContent can not be used with GenerateContent request setting
  system_instruction, tools or tool_config…".
- A `cachedContent` that expired, was deleted, never existed or belongs to another API key →
  403 PERMISSION_DENIED "CachedContent not found (or permission denied)" (what the API has been
  observed to answer; GET and DELETE of such a cache answer the same). A cache of another model
  → 400 INVALID_ARGUMENT "Model used by GenerateContent request (models/a) and CachedContent
  (models/b) has to be the same."
- `cachedContents` create below the model's minimum → 400 INVALID_ARGUMENT "Cached content is
  too small. total_token_count=N, min_total_token_count=M". The minimum is per model (`models`:
  1,024 for gemini-2.5-flash and 2,048 for gemini-2.5-flash-lite as the API has answered; 4,096
  for gemini-2.5-pro and the 3.x models as the docs list). Tokens are estimated as characters / 4
  of the text (system instruction and contents), plus 258 per file part — the same estimate the
  engine uses (`webapp.llm.gemini.estimate_tokens`). A cache expires at `expireTime` (from
  `ttl`, default one hour) on the fake's clock (`advance()` moves it).
- `generationConfig.responseSchema` with a field outside the supported OpenAPI subset
  (`SCHEMA_FIELDS`; e.g. `additionalProperties`, `$ref`, `oneOf`) → 400 INVALID_ARGUMENT
  "Invalid JSON payload received. Unknown name "x" at 'generation_config.response_schema…':
  Cannot find field." with a `google.rpc.BadRequest` detail; a `type` that is not one of the
  schema types → 400 too. `responseJsonSchema` (full JSON Schema) is not checked.
- `thinkingConfig.thinkingBudget` outside the model's range (-1 means dynamic): 0 where thinking
  cannot be turned off → 400 "Budget 0 is invalid. This model only works in thinking mode.";
  anything else out of range → 400 "The thinking budget (N) is invalid."; `thinkingLevel` on a
  2.5 model, or together with `thinkingBudget` → 400. Budgets of 3.x models are not checked.
- A `fileData.fileUri` of the File API (`…/v1beta/files/{id}`) that this key did not upload, that
  was deleted or that expired (48 h after upload, `expirationTime`) → 403 PERMISSION_DENIED "You
  do not have permission to access the File {id} or it may not exist." (also for GET/DELETE
  `files/{id}`). Other URIs are not checked.

Scripted endings (`Reply`): a finish reason (`MAX_TOKENS` cuts the text, by default in half;
`SAFETY` and the other filters end with a candidate carrying `safetyRatings` and no or partial
text), a blocked prompt (`promptFeedback.blockReason`, no candidates), an HTTP error before any
chunk, an error event or a dropped connection after some chunks, 429 with `google.rpc.RetryInfo`
(and `QuotaFailure`), and usage with `thoughtsTokenCount` (`cachedContentTokenCount` when a
cache is used). Deterministic: no sleeps but the ones a test scripts (`Reply.delay`).
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

API_KEY = "test-gemini-key"
OTHER_API_KEY = "test-gemini-key-other"  # a second valid key: files and caches are per key
FILE_TTL_SECONDS = 48 * 3600
DEFAULT_CACHE_TTL_SECONDS = 3600
TOKENS_PER_FILE = 258  # the documented cost of a small image; the fake uses it for every file
SAFETY_ENDINGS = {
    "SAFETY",
    "RECITATION",
    "PROHIBITED_CONTENT",
    "BLOCKLIST",
    "SPII",
    "OTHER",
    "LANGUAGE",
}
STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    408: "DEADLINE_EXCEEDED",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
# The OpenAPI subset `responseSchema` accepts (ai.google.dev structured output; google-genai
# `types.Schema` also has additionalProperties/$defs/$ref, which only Vertex AI takes).
SCHEMA_FIELDS = {
    "type",
    "format",
    "title",
    "description",
    "nullable",
    "enum",
    "maxItems",
    "minItems",
    "properties",
    "required",
    "propertyOrdering",
    "items",
    "minProperties",
    "maxProperties",
    "minLength",
    "maxLength",
    "pattern",
    "example",
    "anyOf",
    "default",
    "minimum",
    "maximum",
}
SCHEMA_TYPES = {
    "TYPE_UNSPECIFIED",
    "STRING",
    "NUMBER",
    "INTEGER",
    "BOOLEAN",
    "ARRAY",
    "OBJECT",
    "NULL",
}
_FILE_URI = re.compile(r"/v1(?:beta)?/files/([A-Za-z0-9_-]+)$")


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(word.title() for word in rest)


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()


def _get(message: dict, name: str) -> Any:
    """A field of a JSON request, by its JSON name or its proto name (the API takes both, and
    google-genai sends e.g. `thinking_budget` and `property_ordering` in snake case)."""
    value = message.get(name)
    return message.get(_snake(name)) if value is None else value


def estimate_tokens(chars: int, files: int = 0) -> int:
    """Characters / 4 plus 258 per file: a rough, documented estimate (not Gemini's tokenizer)."""
    return chars // 4 + files * TOKENS_PER_FILE


@dataclass(frozen=True)
class ModelSpec:
    """What the fake knows of a model: its cache minimum and the thinking budgets it takes."""

    min_cache_tokens: int
    thinking_range: tuple[int, int] | None  # allowed positive budgets; None: not checked
    thinking_off: bool  # thinkingBudget 0 accepted
    thinking_levels: bool  # thinkingLevel accepted (Gemini 3)


MODELS: dict[str, ModelSpec] = {
    "gemini-2.5-pro": ModelSpec(4096, (128, 32768), False, False),
    "gemini-2.5-flash": ModelSpec(1024, (1, 24576), True, False),
    "gemini-2.5-flash-lite": ModelSpec(2048, (512, 24576), True, False),
    "gemini-3-flash-preview": ModelSpec(4096, None, True, True),
    "gemini-3-pro-preview": ModelSpec(4096, None, False, True),
}


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args, **kwargs) -> None:
        pass


class _Dropped(ConnectionResetError):
    """Raised after the fake shut a streaming socket: werkzeug treats it as a dropped client."""


@dataclass
class Reply:
    """One model turn: JSON (or raw text) streamed in chunks, or a scripted failure.

    `status` other than 200 answers that HTTP error at once — or, with `error_after`, as an
    error event after that many chunks (what the API does when a stream fails midway).
    `drop_after` closes the socket after that many chunks. `finish_reason` ends the turn;
    `cut` is how many characters of the body are produced (default: all; half for MAX_TOKENS;
    none for the safety endings). `block_reason` blocks the prompt (no candidates at all).
    """

    json: dict | None = None
    text: str | None = None
    status: int = 200
    delay: float = 0.0  # seconds before each chunk (slow models)
    chunk: int = 24  # characters per streamed chunk
    thoughts: str | None = None
    finish_reason: str = "STOP"
    cut: int | None = None
    block_reason: str | None = None
    error_after: int | None = None
    drop_after: int | None = None
    retry_delay: str | None = None  # 429: google.rpc.RetryInfo retryDelay, e.g. "7s"
    quota_id: str | None = None  # 429: google.rpc.QuotaFailure quotaId
    thoughts_tokens: int | None = None

    def body_text(self) -> str:
        return self.text if self.text is not None else json.dumps(self.json, ensure_ascii=False)

    def produced(self) -> str:
        """The part of the body the model gets to write before it stops."""
        text = self.body_text()
        cut = self.cut
        if cut is None:
            if self.finish_reason == "MAX_TOKENS":
                cut = len(text) // 2
            elif self.finish_reason in SAFETY_ENDINGS:
                cut = 0
            else:
                cut = len(text)
        return text[:cut]


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
    deleted: list[str] = field(default_factory=list)  # "files/{id}" deleted
    caches: list[dict] = field(default_factory=list)  # caches created: {"name", **request body}
    deleted_caches: list[str] = field(default_factory=list)
    chunks_sent: int = 0  # streamed chunks written so far, all replies together
    api_keys: set[str] = field(default_factory=lambda: {API_KEY, OTHER_API_KEY})
    models: dict[str, ModelSpec] = field(default_factory=lambda: dict(MODELS))

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._offset = 0.0  # seconds the fake's clock is ahead of the real one
        self._sessions: dict[str, dict] = {}
        self._files: dict[str, dict] = {}  # id -> owner, expires, deleted, mime, display name
        self._caches: dict[str, dict] = {}  # name -> owner, model, expires, tokens, deleted
        self._server = make_server(
            self.host, self.port, self._wsgi, threaded=True, request_handler=_QuietHandler
        )
        self.port = self._server.server_port
        # a short poll so `stop()` returns at once (the default half second adds up over tests)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

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

    # --- time ---------------------------------------------------------------------------------
    def now(self) -> float:
        return time.time() + self._offset

    def advance(self, seconds: float) -> None:
        """Move the fake's clock on: caches and files expire without anyone waiting."""
        with self._lock:
            self._offset += seconds

    # --- what was sent ------------------------------------------------------------------------
    def generations(self) -> list[Recorded]:
        return [r for r in self.requests if r.kind == "generate"]

    def of_kind(self, kind: str) -> list[Recorded]:
        return [r for r in self.requests if r.kind == kind]

    def file_uri(self, file_id: str) -> str:
        return f"{self.url}/v1beta/files/{file_id}"

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
        key = request.headers.get("x-goog-api-key") or ""
        parts = path.strip("/").split("/")
        if parts[0] == "upload" and parts[-1] == "files" and request.method == "POST":
            kind, body = "upload_start", request.get_json(force=True, silent=True) or {}
        elif len(parts) < 2 or parts[0] not in ("v1", "v1beta"):
            return _error(404, f"unknown path {path}")
        else:
            kind, body = self._kind(request, "/".join(parts[1:]))
        if kind == "":
            return _error(404, f"unknown path {path}")
        self._record(request, kind, body)
        refused = _key_refusal(key, self.api_keys)
        if refused is not None:
            return refused
        rest = "/".join(parts[1:])
        if kind == "upload_start":
            return self._upload_start(body, key)
        if kind == "generate":
            return self._generate(request, body["model"], body["method"], body, key)
        if kind in ("get_file", "delete_file"):
            return self._file_request(request.method, rest.split("/", 1)[1], key)
        if kind == "cache":
            return self._create_cache(body, key)
        return self._cache_request(request.method, rest, key)

    @staticmethod
    def _kind(request: Request, rest: str) -> tuple[str, Any]:
        """What a request under /v1beta/ is (as recorded), with its body; "" when unknown."""
        if rest.startswith("models/") and ":" in rest:
            model, method = rest[len("models/") :].split(":", 1)
            body = request.get_json(force=True)
            return "generate", {"model": model, "method": method, **body}
        if rest.startswith("files/") and request.method in ("GET", "DELETE"):
            return ("delete_file" if request.method == "DELETE" else "get_file"), None
        if rest == "cachedContents" and request.method == "POST":
            return "cache", request.get_json(force=True)
        if rest.startswith("cachedContents/") and request.method in ("GET", "DELETE"):
            return ("cache_delete" if request.method == "DELETE" else "cache_get"), None
        return "", None

    # --- files --------------------------------------------------------------------------------
    def _upload_start(self, body: dict, key: str) -> Response:
        session = uuid.uuid4().hex
        self._sessions[session] = {"data": b"", "meta": _get(body, "file") or {}, "owner": key}
        response = Response("{}", mimetype="application/json")
        response.headers["X-Goog-Upload-URL"] = f"{self.url}/upload-session/{session}"
        response.headers["X-Goog-Upload-Status"] = "active"
        return response

    def _file(self, file_id: str) -> dict:
        meta = self._files.get(file_id, {})
        data = self.uploads.get(file_id, b"")
        created = meta.get("created", self.now())
        return {
            "name": f"files/{file_id}",
            "displayName": meta.get("display_name") or file_id,
            "uri": self.file_uri(file_id),
            "mimeType": meta.get("mime_type") or "application/octet-stream",
            "sizeBytes": str(len(data)),
            "createTime": _rfc3339(created),
            "updateTime": _rfc3339(created),
            "expirationTime": _rfc3339(meta.get("expires", created + FILE_TTL_SECONDS)),
            "state": "ACTIVE",
            "source": "UPLOADED",
        }

    def _upload_chunk(self, request: Request, session_id: str) -> Response:
        session = self._sessions.get(session_id)
        if session is None:
            return _error(404, "no such upload session")
        session["data"] += request.get_data()
        command = request.headers.get("X-Goog-Upload-Command", "")
        if "finalize" not in command:
            response = Response("", status=200)
            response.headers["X-Goog-Upload-Status"] = "active"
            return response
        file_id = uuid.uuid4().hex[:16]
        now = self.now()
        with self._lock:
            self.uploads[file_id] = session.pop("data")
            self._files[file_id] = {
                "owner": session["owner"],
                "created": now,
                "expires": now + FILE_TTL_SECONDS,
                "deleted": False,
                "mime_type": _get(session["meta"], "mimeType"),
                "display_name": _get(session["meta"], "displayName"),
            }
        self._record(
            request,
            "upload",
            {"file_id": file_id, "display_name": _get(session["meta"], "displayName")},
        )
        response = Response(json.dumps({"file": self._file(file_id)}), mimetype="application/json")
        response.headers["X-Goog-Upload-Status"] = "final"
        return response

    def _file_refusal(self, file_id: str, key: str) -> Response | None:
        meta = self._files.get(file_id)
        if meta is None or meta["owner"] != key or meta["deleted"] or meta["expires"] <= self.now():
            return _error(
                403, f"You do not have permission to access the File {file_id} or it may not exist."
            )
        return None

    def _file_request(self, method: str, file_id: str, key: str) -> Response:
        refused = self._file_refusal(file_id, key)
        if refused is not None:
            return refused
        if method == "DELETE":
            with self._lock:
                self._files[file_id]["deleted"] = True
                self.deleted.append(f"files/{file_id}")
            return _json({})
        return _json(self._file(file_id))

    # --- caches -------------------------------------------------------------------------------
    def _create_cache(self, body: dict, key: str) -> Response:
        model = str(_get(body, "model") or "").removeprefix("models/")
        spec = self.models.get(model)
        if spec is None:
            return _model_not_found(model, "createCachedContent")
        refused = self._files_refusal(_get(body, "contents") or [], key)
        if refused is not None:
            return refused
        tokens = _content_tokens(
            [_get(body, "systemInstruction") or {}, *(_get(body, "contents") or [])]
        )
        if tokens < spec.min_cache_tokens:
            return _error(
                400,
                f"Cached content is too small. total_token_count={tokens}, "
                f"min_total_token_count={spec.min_cache_tokens}",
            )
        now = self.now()
        expires = _expiry(body, now)
        if expires is None:
            return _error(400, "Invalid value at 'cached_content.ttl' (google.protobuf.Duration)")
        name = f"cachedContents/{uuid.uuid4().hex[:12]}"
        meta = {
            "owner": key,
            "model": model,
            "created": now,
            "expires": expires,
            "tokens": tokens,
            "deleted": False,
            "display_name": _get(body, "displayName") or "",
        }
        with self._lock:
            self._caches[name] = meta
            self.caches.append({"name": name, **body})
        return _json(self._cache_json(name))

    def _cache_json(self, name: str) -> dict:
        meta = self._caches[name]
        return {
            "name": name,
            "model": f"models/{meta['model']}",
            "displayName": meta["display_name"],
            "createTime": _rfc3339(meta["created"]),
            "updateTime": _rfc3339(meta["created"]),
            "expireTime": _rfc3339(meta["expires"]),
            "usageMetadata": {"totalTokenCount": meta["tokens"]},
        }

    def _live_cache(self, name: str, key: str) -> dict | None:
        meta = self._caches.get(name)
        if meta is None or meta["owner"] != key or meta["deleted"] or meta["expires"] <= self.now():
            return None
        return meta

    def _cache_request(self, method: str, name: str, key: str) -> Response:
        if self._live_cache(name, key) is None:
            return _error(403, "CachedContent not found (or permission denied)")
        if method == "DELETE":
            with self._lock:
                self._caches[name]["deleted"] = True
                self.deleted_caches.append(name)
            return _json({})
        return _json(self._cache_json(name))

    # --- generation ---------------------------------------------------------------------------
    def _files_refusal(self, contents: list, key: str) -> Response | None:
        for content in contents:
            for part in _get(content, "parts") or []:
                uri = _get(_get(part, "fileData") or {}, "fileUri") or ""
                found = _FILE_URI.search(uri)
                if found:
                    refused = self._file_refusal(found.group(1), key)
                    if refused is not None:
                        return refused
        return None

    def _refusal(self, model: str, method: str, body: dict, key: str) -> Response | None:
        """What the real API would refuse in this request, before any model runs."""
        spec = self.models.get(model)
        if spec is None or method.split("?")[0] not in ("generateContent", "streamGenerateContent"):
            return _model_not_found(model, method.split("?")[0])
        cache_name = _get(body, "cachedContent")
        if cache_name:
            clashing = [f for f in ("systemInstruction", "tools", "toolConfig") if _get(body, f)]
            if clashing:
                return _error(
                    400,
                    "CachedContent can not be used with GenerateContent request setting "
                    "system_instruction, tools or tool_config.\n\nProposed fix: move those "
                    "values to CachedContent from GenerateContent request.",
                )
            cache = self._live_cache(cache_name, key)
            if cache is None:
                return _error(403, "CachedContent not found (or permission denied)")
            if cache["model"] != model:
                return _error(
                    400,
                    f"Model used by GenerateContent request (models/{model}) and CachedContent "
                    f"(models/{cache['model']}) has to be the same.",
                )
        config = _get(body, "generationConfig") or {}
        schema = _get(config, "responseSchema")
        if schema is not None:
            problems = _schema_problems(schema, "generation_config.response_schema")
            if problems:
                return _error(
                    400,
                    "\n".join(description for _, description in problems),
                    details=[
                        {
                            "@type": "type.googleapis.com/google.rpc.BadRequest",
                            "fieldViolations": [
                                {"field": path, "description": description}
                                for path, description in problems
                            ],
                        }
                    ],
                )
        refused = _thinking_refusal(spec, _get(config, "thinkingConfig") or {})
        if refused is not None:
            return refused
        return self._files_refusal(_get(body, "contents") or [], key)

    def _next_reply(self, body: dict) -> Reply:
        with self._lock:
            if self.script:
                return self.script.popleft()
        if self.responder is not None:
            return self.responder(body)
        return Reply(status=500, text="the fake model's script is exhausted")

    def _usage(self, body: dict, text: str, reply: Reply, key: str) -> dict:
        prompt = _content_tokens(
            [_get(body, "systemInstruction") or {}, *(_get(body, "contents") or [])]
        )
        usage: dict[str, Any] = {"candidatesTokenCount": len(text) // 4}
        cache = self._live_cache(_get(body, "cachedContent") or "", key)
        if cache is not None:
            usage["cachedContentTokenCount"] = cache["tokens"]
            prompt += cache["tokens"]  # the prompt count includes the cached tokens
        usage["promptTokenCount"] = prompt
        thoughts = reply.thoughts_tokens
        if thoughts is None and reply.thoughts:
            thoughts = len(reply.thoughts) // 4
        if thoughts:
            usage["thoughtsTokenCount"] = thoughts
        usage["totalTokenCount"] = prompt + usage["candidatesTokenCount"] + (thoughts or 0)
        return usage

    def _generate(
        self, request: Request, model: str, method: str, body: dict, key: str
    ) -> Response:
        refused = self._refusal(model, method, body, key)
        if refused is not None:
            return refused
        reply = self._next_reply(body)
        if reply.status != 200 and reply.error_after is None:
            if reply.delay:
                time.sleep(reply.delay)
            return _reply_error(reply)
        text = reply.produced()
        usage = self._usage(body, text, reply, key)
        envelope = {"modelVersion": model, "responseId": uuid.uuid4().hex[:20]}
        if reply.block_reason:
            feedback: dict[str, Any] = {"blockReason": reply.block_reason}
            if reply.block_reason == "SAFETY":
                feedback["safetyRatings"] = _safety_ratings(blocked=True)
            payload = {"promptFeedback": feedback, "usageMetadata": usage, **envelope}
            if method.startswith("generateContent"):
                return _json(payload)
            return Response([_sse(payload)], mimetype="text/event-stream")
        if method.startswith("generateContent"):
            if reply.delay:
                time.sleep(reply.delay)
            if reply.error_after is not None:
                return _reply_error(reply)
            candidate = _candidate(text, reply.thoughts, reply.finish_reason)
            return _json({"candidates": [candidate], "usageMetadata": usage, **envelope})
        sock = request.environ.get("werkzeug.socket")

        def chunks():
            if reply.thoughts:
                yield _sse({"candidates": [_candidate(reply.thoughts, None, None, True)]})
            pieces = [text[i : i + reply.chunk] for i in range(0, len(text), reply.chunk)]
            separate_ending = reply.finish_reason not in ("STOP", "MAX_TOKENS") or not pieces
            for index, piece in enumerate(pieces):
                if reply.drop_after is not None and index == reply.drop_after:
                    _drop(sock)
                if reply.error_after is not None and index == reply.error_after:
                    yield _sse(_reply_error_body(reply))
                    return
                if reply.delay:
                    time.sleep(reply.delay)
                last = index == len(pieces) - 1 and not separate_ending
                self.chunks_sent += 1
                candidate = _candidate(piece, None, reply.finish_reason if last else None)
                payload = {"candidates": [candidate], **envelope}
                if last:
                    payload["usageMetadata"] = usage
                yield _sse(payload)
            if reply.drop_after is not None and reply.drop_after >= len(pieces):
                _drop(sock)
            if reply.error_after is not None:
                yield _sse(_reply_error_body(reply))
                return
            if separate_ending:
                candidate = _candidate("", None, reply.finish_reason)
                yield _sse({"candidates": [candidate], "usageMetadata": usage, **envelope})

        return Response(chunks(), mimetype="text/event-stream")


# --- wire helpers ------------------------------------------------------------------------------
def _rfc3339(moment: float) -> str:
    return datetime.fromtimestamp(moment, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _expiry(body: dict, now: float) -> float | None:
    """When a cache being created expires: `ttl` ("900s") or `expireTime`, default one hour."""
    ttl, expire_time = _get(body, "ttl"), _get(body, "expireTime")
    if ttl:
        match = re.fullmatch(r"(\d+(?:\.\d+)?)s", str(ttl))
        return now + float(match.group(1)) if match else None
    if expire_time:
        try:
            return datetime.fromisoformat(str(expire_time).replace("Z", "+00:00")).timestamp()
        except ValueError:
            return None
    return now + DEFAULT_CACHE_TTL_SECONDS


def _content_tokens(contents: list[dict]) -> int:
    chars = files = 0
    for content in contents:
        for part in _get(content, "parts") or []:
            chars += len(_get(part, "text") or "")
            files += bool(_get(part, "fileData") or _get(part, "inlineData"))
    return estimate_tokens(chars, files)


def _schema_problems(schema: Any, path: str) -> list[tuple[str, str]]:
    """(field path, description) for each field the responseSchema subset does not have."""
    if not isinstance(schema, dict):
        return []
    problems = [
        (
            path,
            f"Invalid JSON payload received. Unknown name \"{name}\" at '{path}': "
            "Cannot find field.",
        )
        for name in schema
        if _camel(name) not in SCHEMA_FIELDS
    ]
    kind = schema.get("type")
    if kind is not None and str(kind).upper() not in SCHEMA_TYPES:
        problems.append(
            (
                f"{path}.type",
                f"Invalid value at '{path}.type' "
                f'(type.googleapis.com/google.ai.generativelanguage.v1beta.Type), "{kind}"',
            )
        )
    for index, sub in enumerate((schema.get("properties") or {}).values()):
        problems += _schema_problems(sub, f"{path}.properties[{index}].value")
    if "items" in schema:
        problems += _schema_problems(schema["items"], f"{path}.items")
    for index, sub in enumerate(_get(schema, "anyOf") or []):
        problems += _schema_problems(sub, f"{path}.any_of[{index}]")
    return problems


def _thinking_refusal(spec: ModelSpec, thinking: dict) -> Response | None:
    budget = _get(thinking, "thinkingBudget")
    level = _get(thinking, "thinkingLevel")
    if level is not None and not spec.thinking_levels:
        return _error(400, "Thinking level is not supported for this model.")
    if level is not None and budget is not None:
        return _error(400, "You can only set only one of thinking budget and thinking level.")
    if budget is None or budget == -1:
        return None
    if budget == 0:
        if spec.thinking_off:
            return None
        return _error(400, "Budget 0 is invalid. This model only works in thinking mode.")
    low_high = spec.thinking_range
    if low_high is not None and not low_high[0] <= budget <= low_high[1]:
        return _error(400, f"The thinking budget ({budget}) is invalid.")
    if budget < -1:
        return _error(400, f"The thinking budget ({budget}) is invalid.")
    return None


def _key_refusal(key: str | None, valid: set[str]) -> Response | None:
    if not key:
        return _error(
            403,
            "Method doesn't allow unregistered callers (callers without established identity)."
            " Please use API Key or other form of API consumer identity to call this API.",
        )
    if key in valid:
        return None
    message = "API key not valid. Please pass a valid API key."
    return _error(
        400,
        message,
        details=[
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "API_KEY_INVALID",
                "domain": "googleapis.com",
                "metadata": {"service": "generativelanguage.googleapis.com"},
            },
            {
                "@type": "type.googleapis.com/google.rpc.LocalizedMessage",
                "locale": "en-US",
                "message": message,
            },
        ],
    )


def _model_not_found(model: str, method: str) -> Response:
    return _error(
        404,
        f"models/{model} is not found for API version v1beta, or is not supported for "
        f"{method}. Call ListModels to see the list of available models and their supported "
        "methods.",
    )


def _safety_ratings(blocked: bool) -> list[dict]:
    ratings = [
        {"category": category, "probability": "NEGLIGIBLE"}
        for category in (
            "HARM_CATEGORY_SEXUALLY_EXPLICIT",
            "HARM_CATEGORY_HATE_SPEECH",
            "HARM_CATEGORY_HARASSMENT",
        )
    ]
    danger = {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH"}
    if blocked:
        danger["blocked"] = True
    return [*ratings, danger]


def _candidate(text: str, thoughts: str | None, finish: str | None, thought: bool = False) -> dict:
    parts = []
    if thoughts:
        parts.append({"text": thoughts, "thought": True})
    if text:
        parts.append({"text": text, "thought": True} if thought else {"text": text})
    candidate: dict[str, Any] = {"index": 0}
    if parts:
        candidate["content"] = {"role": "model", "parts": parts}
    if finish:
        candidate["finishReason"] = finish
        if finish in SAFETY_ENDINGS:
            candidate["safetyRatings"] = _safety_ratings(blocked=finish == "SAFETY")
    return candidate


def _drop(sock: socket.socket | None) -> None:
    """Close the connection under the client's feet (what a dying proxy or network does)."""
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
    raise _Dropped("the fake dropped the connection")


def _sse(payload: dict) -> bytes:
    return f"data: {json.dumps(payload, ensure_ascii=False)}\r\n\r\n".encode()


def _json(payload: dict) -> Response:
    return Response(json.dumps(payload, ensure_ascii=False), mimetype="application/json")


def _reply_error_body(reply: Reply) -> dict:
    status = reply.status if reply.status != 200 else 500
    details = []
    if reply.quota_id:
        details.append(
            {
                "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                "violations": [
                    {
                        "quotaMetric": "generativelanguage.googleapis.com/"
                        "generate_content_free_tier_requests",
                        "quotaId": reply.quota_id,
                    }
                ],
            }
        )
    if reply.retry_delay:
        details.append(
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": reply.retry_delay}
        )
    default = {
        429: "You exceeded your current quota, please check your plan and billing details.",
        503: "The model is overloaded. Please try again later.",
    }.get(status, "scripted failure")
    error: dict[str, Any] = {
        "code": status,
        "message": (reply.text if reply.error_after is None else None) or default,
        "status": STATUS_NAMES.get(status, "UNKNOWN"),
    }
    if details:
        error["details"] = details
    return {"error": error}


def _reply_error(reply: Reply) -> Response:
    body = _reply_error_body(reply)
    return Response(json.dumps(body), status=body["error"]["code"], mimetype="application/json")


def _error(status: int, message: str, details: list[dict] | None = None) -> Response:
    error: dict[str, Any] = {
        "code": status,
        "message": message,
        "status": STATUS_NAMES.get(status, "UNKNOWN"),
    }
    if details:
        error["details"] = details
    return Response(json.dumps({"error": error}), status=status, mimetype="application/json")
