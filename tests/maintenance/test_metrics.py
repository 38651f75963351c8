"""`/metrics`: off by default, guarded, and counting what happens."""

from __future__ import annotations

from tests.support.chat_session import names


def test_metrics_off_by_default(client):
    assert client.get("/metrics").status_code == 404


def test_metrics_count_requests_runs_renders(make_session):
    session = make_session(gemini=False, METRICS_ENABLED=True)
    events = session.ask("Какие стены на плане?")
    assert names(events)[-1] == "completed"
    text = session.client.get("/metrics", environ_base={"REMOTE_ADDR": "127.0.0.1"}).get_data(
        as_text=True
    )
    assert "# TYPE aizoomdoc_http_requests_total counter" in text
    assert 'route="/chats/<chat_id>/stream"' in text and 'status="200"' in text
    assert 'aizoomdoc_runs_total{outcome="succeeded"' in text
    assert "aizoomdoc_run_seconds_count" in text
    assert 'aizoomdoc_renders_total{cache="miss",kind="overview"' in text
    assert 'aizoomdoc_llm_calls_total{model="local-flash",outcome="ok"' in text
    assert "aizoomdoc_queue_waiting" in text and "aizoomdoc_runs_active" in text


def test_metrics_guarded(make_session):
    session = make_session(gemini=False, METRICS_ENABLED=True)
    remote = session.client.get("/metrics", environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert remote.status_code == 404
    proxied = session.client.get(
        "/metrics",
        environ_base={"REMOTE_ADDR": "127.0.0.1"},
        headers={"X-Forwarded-For": "203.0.113.9"},
    )
    assert proxied.status_code == 404


def test_metrics_token(make_session):
    tokened = make_session(gemini=False, METRICS_ENABLED=True, METRICS_TOKEN="m" * 32)
    assert tokened.client.get("/metrics").status_code == 404
    ok = tokened.client.get(
        "/metrics",
        headers={"Authorization": "Bearer " + "m" * 32},
        environ_base={"REMOTE_ADDR": "203.0.113.9"},
    )
    assert ok.status_code == 200 and ok.mimetype == "text/plain"
