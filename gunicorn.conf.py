"""gunicorn settings: gevent workers (SSE streams are long-lived), bind and sizes from the env.

Sizing: each worker runs at most MAX_CONCURRENT_REQUESTS answers at once and queues
MAX_QUEUE_SIZE more, so a host runs WEB_CONCURRENCY × MAX_CONCURRENT_REQUESTS answers at once.
Answers mostly wait on the LLM; renders are bounded by RENDER_WORKERS per worker.
"""

import os

bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "gevent"
worker_connections = int(os.environ.get("WORKER_CONNECTIONS", "2000"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "120"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "30"))
keepalive = 5
accesslog = None  # the app logs one structured line per request itself
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
# gunicorn 27's control socket lives in $HOME and would be shared by every instance on a host;
# systemd (and the tests) manage the process instead.
control_socket_disable = True


def post_worker_init(worker):
    """Load the slow parts (Gemini SDK, ImageMagick, caches) before serving any request, then
    (with HUB_MONITOR_SECONDS) start counting the hub's blocks."""
    from webapp.warmup import warm_up, watch_hub

    warm_up(worker.wsgi)
    watch_hub(worker.wsgi)
