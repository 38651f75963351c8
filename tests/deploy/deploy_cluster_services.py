"""The cluster's shared servers, run by the cluster test inside the network namespace it made.

Usage: python deploy_cluster_services.py CONFIG_JSON
CONFIG_JSON names the address to listen on (the bridge's), the PostgreSQL DSNs of the chat and
projects databases (PostgreSQL itself listens on a Unix socket only), the API key, the bucket and
a file to write once everything answers. It serves until SIGTERM:

- the PostgREST-compatible server of the suite (tests/support/postgrest.py) for each database;
- a moto S3 server with the bucket, holding the demo drawing set as the OCR pipeline publishes
  it (files under tree_docs/, rows in the projects database's tree_nodes and node_files);
- the suite's fake Gemini API (tests/support/fake_gemini.py): a question that contains
  SLOW_MARK-<tag> is answered slowly the first time (a long answer, one chunk a second), so
  that a host can be lost while it runs; everything else is answered at once.

The ready file holds the URLs and the demo document's id, as JSON.
"""

from __future__ import annotations

import json
import logging
import signal
import sys
import tempfile
import threading
import uuid
from pathlib import Path

SLOW_MARK = "МЕДЛЕННО"
SLOW_CHUNKS = 90  # one a second: the slow answer takes a minute and a half


def _serve(host: str, app) -> tuple[int, object]:
    from werkzeug.serving import WSGIRequestHandler, make_server

    class Quiet(WSGIRequestHandler):
        def log_request(self, *args, **kwargs) -> None:
            pass

    server = make_server(host, 0, app, threaded=True, request_handler=Quiet)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                     daemon=True).start()
    return server.server_port, server


def _publish_demo(projects_dsn: str, bucket) -> str:
    """What the OCR pipeline does in production: files in the bucket, rows in the projects DB."""
    from tests.support.fixtures import insert_row
    from webapp.drawings.demo_set import build_demo_set

    demo = build_demo_set(Path(tempfile.mkdtemp(prefix="cluster-demo-")) / "demo")
    document_id = str(uuid.uuid4())
    client = insert_row(projects_dsn, "tree_nodes",
                        {"client_id": "acme", "node_type": "client", "name": "Заказчик"})
    insert_row(projects_dsn, "tree_nodes",
               {"id": document_id, "parent_id": client["id"], "client_id": "acme",
                "node_type": "document", "name": "Демо АР", "code": "01/25-ДМ-АР"})
    files = {"result_md": demo.document_md, "blocks_index": demo.blocks_json,
             "ocr_html": demo.ocr_html}
    files.update({f"crop:{block}": path for block, path in demo.crops.items()})
    for file_type, path in files.items():
        name = f"crops/{path.name}" if file_type.startswith("crop") else path.name
        key = f"tree_docs/{document_id}/{name}"
        bucket.put_object(Key=key, Body=path.read_bytes())
        insert_row(projects_dsn, "node_files",
                   {"node_id": document_id, "file_type": file_type.split(":")[0], "r2_key": key,
                    "file_name": path.name, "file_size": path.stat().st_size})
    return document_id


def _responder():
    """Slow the first time a question with SLOW_MARK-<tag> is seen, fast afterwards (a rerun)."""
    import re

    from tests.support.fake_gemini import Reply

    seen: set[str] = set()
    lock = threading.Lock()

    def respond(body: dict) -> Reply:
        tags = re.findall(SLOW_MARK + r"-(\w+)", json.dumps(body, ensure_ascii=False))
        with lock:
            slow = bool(tags) and tags[-1] not in seen
            seen.update(tags)
        words = "Ответ кластера, строка за строкой. " * (SLOW_CHUNKS if slow else 2)
        reply = {"needs_more_evidence": False, "answer_markdown": words.strip(), "citations": []}
        if slow:
            return Reply(json=reply, delay=1.0, chunk=len(words) // SLOW_CHUNKS + 1)
        return Reply(json=reply)

    return respond


def main() -> None:
    config = json.loads(Path(sys.argv[1]).read_text())
    host = config["host"]
    logging.getLogger("werkzeug").setLevel(logging.ERROR)

    import boto3
    from moto.server import ThreadedMotoServer

    from tests.support.fake_gemini import FakeGemini
    from tests.support.postgrest import PostgrestServer

    urls = {}
    for name in ("chat", "projects"):
        rest = PostgrestServer(config[f"{name}_dsn"], config["api_key"]).start()
        port, _ = _serve(host, rest.wsgi)
        urls[f"{name}_url"] = f"http://{host}:{port}"

    with __import__("socket").socket() as sock:
        sock.bind((host, 0))
        s3_port = sock.getsockname()[1]
    moto = ThreadedMotoServer(ip_address=host, port=s3_port, verbose=False)
    moto.start()
    urls["s3_url"] = f"http://{host}:{s3_port}"
    s3 = boto3.session.Session().resource(
        "s3", endpoint_url=urls["s3_url"], aws_access_key_id=config["s3_key_id"],
        aws_secret_access_key=config["s3_secret"], region_name="us-east-1")
    bucket = s3.create_bucket(Bucket=config["bucket"])
    urls["document_id"] = _publish_demo(config["projects_dsn"], bucket)

    gemini = FakeGemini(host=host, responder=_responder()).start()
    urls["gemini_url"] = gemini.url

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    ready = Path(config["ready_file"])
    ready.with_suffix(".tmp").write_text(json.dumps(urls))
    ready.with_suffix(".tmp").rename(ready)
    stop.wait()
    moto.stop()


if __name__ == "__main__":
    main()
