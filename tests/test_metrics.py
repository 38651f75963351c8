"""`/metrics`: off by default, guarded, and counting what this test's own requests did.

The registry is per process and every app of the test session adds to it, so the tests compare
two scrapes around their own requests rather than reading totals.
"""

from __future__ import annotations

import re

from tests.support.chat_session import Session, names, of

LOOPBACK = {"REMOTE_ADDR": "127.0.0.1"}
SAMPLE = re.compile(r"^(?P<name>[a-z_]+)\{(?P<labels>[^}]*)\} (?P<value>\S+)$")
NOT_FOUND = {"error": "not_found", "message": "No such resource.", "detail": "No such resource."}

Series = dict[tuple[str, frozenset], float]


def scrape(session: Session) -> Series:
    """Every sample of `/metrics`, keyed by name and labels (without the `worker` label)."""
    response = session.client.get("/metrics", environ_base=LOOPBACK)
    assert response.status_code == 200, response.json
    assert response.mimetype == "text/plain"
    series: Series = {}
    for line in response.get_data(as_text=True).splitlines():
        match = SAMPLE.match(line)
        if match:
            labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match["labels"]))
            labels.pop("worker")
            series[(match["name"], frozenset(labels.items()))] = float(match["value"])
    return series


def delta(before: Series, after: Series, name: str, **labels: str) -> float:
    """How much the samples of `name` whose labels include `labels` grew in between."""
    wanted = set(labels.items())
    return sum(
        value - before.get(key, 0.0)
        for key, value in after.items()
        if key[0] == name and wanted <= key[1]
    )


def _not_found(response) -> None:
    assert response.status_code == 404
    body = response.json
    assert {key: body[key] for key in NOT_FOUND} == NOT_FOUND


def test_metrics_off_by_default(client):
    _not_found(client.get("/metrics", environ_base=LOOPBACK))


def test_metrics_count_this_tests_requests_runs_renders(make_session):
    session = make_session(gemini=False, METRICS_ENABLED=True)
    start = scrape(session)
    first = session.ask("Какие стены на плане?")
    assert names(first)[-1] == "completed"
    after_first = scrape(session)

    requests = "aizoomdoc_http_requests_total"
    assert delta(start, after_first, requests, route="/chats", method="POST", status="201") == 1
    posted = dict(route="/chats/<chat_id>/messages", method="POST", status="201")
    assert delta(start, after_first, requests, **posted) == 1
    streamed = dict(route="/chats/<chat_id>/stream", method="GET", status="200")
    assert delta(start, after_first, requests, **streamed) == 1
    assert delta(start, after_first, requests, route="/metrics") == 0  # scrapes are not counted
    assert delta(start, after_first, "aizoomdoc_runs_total", outcome="succeeded") == 1
    assert delta(start, after_first, "aizoomdoc_runs_total", outcome="failed") == 0
    assert delta(start, after_first, "aizoomdoc_run_seconds_count", outcome="succeeded") == 1
    assert delta(start, after_first, "aizoomdoc_run_seconds_sum", outcome="succeeded") > 0
    images = len(of(first, "image_ready"))
    assert images >= 1
    misses = delta(start, after_first, "aizoomdoc_renders_total", cache="miss")
    assert misses >= images  # a fresh cache: everything shown was rendered now
    assert delta(start, after_first, "aizoomdoc_renders_total", cache="hit") == 0
    assert delta(start, after_first, "aizoomdoc_renders_total", cache="miss", kind="overview") >= 1
    calls = delta(
        start, after_first, "aizoomdoc_llm_calls_total", model="local-flash", outcome="ok"
    )
    assert calls >= 1

    session.new_chat()  # the same question again: the same calls, every render from the cache
    assert names(session.ask("Какие стены на плане?"))[-1] == "completed"
    after_second = scrape(session)
    assert delta(after_first, after_second, "aizoomdoc_renders_total", cache="miss") == 0
    assert delta(after_first, after_second, "aizoomdoc_renders_total", cache="hit") == misses
    assert delta(after_first, after_second, "aizoomdoc_llm_calls_total", model="local-flash") == (
        calls
    )
    assert delta(after_first, after_second, requests, **streamed) == 1
    gauges = {key[0]: value for key, value in after_second.items() if not key[1]}
    assert gauges["aizoomdoc_queue_waiting"] == 0 and gauges["aizoomdoc_runs_active"] == 0


def test_metrics_guarded(make_session):
    session = make_session(gemini=False, METRICS_ENABLED=True)
    _not_found(session.client.get("/metrics", environ_base={"REMOTE_ADDR": "203.0.113.9"}))
    _not_found(
        session.client.get(
            "/metrics", environ_base=LOOPBACK, headers={"X-Forwarded-For": "203.0.113.9"}
        )
    )
    assert "aizoomdoc_http_requests_total" in session.client.get(
        "/metrics", environ_base=LOOPBACK
    ).get_data(as_text=True)


def test_metrics_token(make_session):
    tokened = make_session(gemini=False, METRICS_ENABLED=True, METRICS_TOKEN="m" * 32)
    _not_found(tokened.client.get("/metrics", environ_base=LOOPBACK))  # the token is required
    _not_found(
        tokened.client.get(
            "/metrics",
            headers={"Authorization": "Bearer " + "n" * 32},
            environ_base={"REMOTE_ADDR": "203.0.113.9"},
        )
    )
    ok = tokened.client.get(
        "/metrics",
        headers={"Authorization": "Bearer " + "m" * 32},
        environ_base={"REMOTE_ADDR": "203.0.113.9"},
    )
    assert ok.status_code == 200 and ok.mimetype == "text/plain"
    text = ok.get_data(as_text=True)
    assert "# TYPE aizoomdoc_http_requests_total counter" in text
    assert re.search(r'^aizoomdoc_runs_active\{worker="\d+"\} 0$', text, re.M), text
