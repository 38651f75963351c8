"""Cluster test: one nginx load balancer and two app hosts sharing PostgreSQL (behind the suite's
PostgREST stand-in) and S3 (moto), converged by ansible/site.yml from an inventory built like
ansible/inventories/cluster-example/.

Three machine containers (lb1, app1, app2: Debian 12 standing in for Ubuntu, as in
test_converge) sit on a private bridge; the bridge, their addresses and the shared servers all
live in network namespaces the test creates (deploy_cluster), and the test reaches them through
those namespaces only. A public client asks through the load balancer over HTTPS with the
certificate certbot obtained from pebble; a request "pinned" to one app host goes to that host's
port from the load balancer's namespace (the only address its firewall lets in), as nginx would
send it. Answers come from the offline engine, or, for a user who stored a Gemini key, from the
suite's fake Gemini API (a question with SLOW_MARK is answered slowly, so that a host can be lost
while it runs).

The measured times (both playbook runs, the time from stopping app1 to the first request served
by app2) are written to /var/cache/aizoomdoc-tests/last-cluster-seconds.json.
"""

from __future__ import annotations

import json
import re
import secrets
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml
from deploy_cluster import ADDRESSES, BRIDGE_ADDRESS, Network, Node, booted_cluster
from deploy_cluster_services import SLOW_MARK
from deploy_machine import (
    CACHE_DIR,
    PEBBLE_MANAGEMENT_PORT,
    PEBBLE_PORT,
    MachineUnavailable,
    build_release_archive,
    check_host,
    host_mirror,
    image_facts,
    pebble_listener_ca,
    rootfs_tarball,
    wheelhouse,
)
from deploy_support import (
    DOMAIN,
    NETCLIENT,
    REPO,
    WHEELHOUSE_INSIDE,
    PlaybookRun,
    ansible_env,
    deploy_bin,
)

from tests.support.postgres import PostgresCluster, PostgresUnavailable
from tests.support.requirements import missing

pytestmark = pytest.mark.cluster

SUITE = "bookworm"  # one suite: test_converge covers both
EXAMPLE = REPO / "ansible" / "inventories" / "cluster-example"
SERVICES = Path(__file__).with_name("deploy_cluster_services.py")
API_KEY = "cluster-service-key-" + "k" * 24
METRICS_TOKEN = "cluster-metrics-" + "m" * 24
GEMINI_KEY = "test-gemini-key"  # one the fake Gemini accepts (tests/support/fake_gemini.py)
APP_PORT = 8000
RUN_STALE_SECONDS = 10


@dataclass
class Cluster:
    network: Network
    nodes: dict[str, Node]
    services: dict
    inventory: Path
    pg: PostgresCluster
    chat_db: str
    runs: list[PlaybookRun] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)

    # ---- playbook ----
    def playbook(self, label: str) -> PlaybookRun:
        started = time.monotonic()
        result = subprocess.run(
            [str(deploy_bin("ansible-playbook")), "-i", str(self.inventory),
             str(REPO / "ansible" / "site.yml")],
            capture_output=True, text=True, timeout=1800, cwd=REPO,
            env=ansible_env(ANSIBLE_LOCAL_TEMP=str(self.inventory.parent / "ansible-tmp")))
        output = result.stdout + result.stderr
        (CACHE_DIR / f"last-cluster-{label}.log").write_text(output)
        return PlaybookRun(result.returncode, output, time.monotonic() - started)

    def require_converged(self) -> None:
        if not self.runs or self.runs[0].returncode != 0:
            pytest.fail("the playbook did not converge (see test_cluster_converges)")

    # ---- clients ----
    def _request(self, argv_prefix: list[str], request: dict) -> dict:
        result = subprocess.run([*argv_prefix, sys.executable, str(NETCLIENT), json.dumps(request)],
                                capture_output=True, text=True, timeout=240)
        assert result.returncode == 0, f"request failed: {request}\n{result.stderr[-2000:]}"
        return json.loads(result.stdout)

    def public(self, **request) -> dict:
        """A request of the public client: to the load balancer over HTTPS, from the bridge."""
        request.update(name=DOMAIN, address=ADDRESSES["lb1"], port=443, ca=str(self.acme_root()))
        return self._request(self.network.exec([]), request)

    def pinned(self, host: str, **request) -> dict:
        """A request sent to one app host, as nginx sends it (from the load balancer's address)."""
        request.update(name=DOMAIN, address=ADDRESSES[host], port=APP_PORT, scheme="http")
        return self._request(self.network.exec([], "lb1"), request)

    def pinned_background(self, host: str, **request) -> subprocess.Popen:
        request.update(name=DOMAIN, address=ADDRESSES[host], port=APP_PORT, scheme="http")
        return subprocess.Popen(
            self.network.exec([sys.executable, str(NETCLIENT), json.dumps(request)], "lb1"),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def acme_root(self) -> Path:
        target = self.inventory.parent / "pebble-root.pem"
        if not target.exists():
            ca, _, _ = pebble_listener_ca()
            answer = self._request(self.network.exec([], "lb1"), {
                "name": "localhost", "port": PEBBLE_MANAGEMENT_PORT, "path": "/roots/0",
                "ca": str(ca)})
            assert answer["status"] == 200, answer
            target.write_text(answer["body"])
        return target

    def run(self, host: str, command: str, **kwargs) -> subprocess.CompletedProcess:
        return self.nodes[host].machine.run(command, **kwargs)

    def sql(self, query: str, *params) -> list[tuple]:
        import psycopg

        with psycopg.connect(self.pg.dsn(self.chat_db), autocommit=True) as conn:
            return conn.execute(query, params).fetchall()

    def connects(self, source: str | None, host: str, timeout: float = 3) -> bool:
        """Whether a TCP connection to the host's app port opens from `source`'s namespace (the
        bridge's own address when None)."""
        code = (f"import socket; socket.create_connection(('{ADDRESSES[host]}', {APP_PORT}), "
                f"timeout={timeout}).close()")
        result = subprocess.run(self.network.exec([sys.executable, "-c", code], source),
                                capture_output=True, timeout=timeout + 30)
        return result.returncode == 0

    # ---- the public API ----
    def login(self, name: str) -> dict:
        created = self.run("app1", "cd /opt/aizoomdoc/current && runuser -u aizoomdoc -- "
                           f".venv/bin/flask users create {name}", timeout=120)
        assert created.returncode == 0, created.stderr[-2000:]
        token = created.stdout.strip().splitlines()[-1].strip()
        answer = self.public(method="POST", path="/auth/exchange", json={"static_token": token})
        assert answer["status"] == 200, answer
        return {"Authorization": f"Bearer {json.loads(answer['body'])['access_token']}"}

    def ask(self, bearer: dict, question: str, pin: str | None = None, **message) -> str:
        """A new chat with one question in it; returns the chat's id."""
        send = (lambda **r: self.pinned(pin, **r)) if pin else self.public
        chat = send(method="POST", path="/chats", headers=bearer, json={"title": "cluster"})
        assert chat["status"] == 201, chat
        chat_id = json.loads(chat["body"])["id"]
        posted = send(method="POST", path=f"/chats/{chat_id}/messages", headers=bearer,
                      json={"content": question, **message})
        assert posted["status"] == 201, posted
        return chat_id

    def run_host(self, chat_id: str) -> str:
        """The app host that ran the chat's latest answer (runs record hostname:pid)."""
        rows = self.sql("SELECT worker FROM chat_runs WHERE chat_id = %s ORDER BY created_at DESC "
                        "LIMIT 1", chat_id)
        assert rows and rows[0][0], rows
        return rows[0][0].split(":")[0]

    def renders(self, host: str) -> dict[str, float]:
        """The host's render counters by cache result (its /metrics, one worker per host)."""
        answer = self.pinned(host, path="/metrics",
                             headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
        assert answer["status"] == 200, answer
        counts = {"hit": 0.0, "miss": 0.0}
        for line in answer["body"].splitlines():
            match = re.match(r'aizoomdoc_renders_total\{(.*)\} ([0-9.e+]+)$', line)
            if match:
                cache = re.search(r'cache="(\w+)"', match.group(1)).group(1)
                counts[cache] = counts.get(cache, 0.0) + float(match.group(2))
        return counts


def _stored(events: list[dict]) -> list[tuple[int, str, dict]]:
    """The events a re-attaching client gets again (live-only tokens and thinking are not)."""
    return [(int(e["id"]), e["event"], json.loads(e["data"])) for e in events
            if e["event"] not in ("llm_token", "llm_thinking")]


# ---- the fixture ----------------------------------------------------------------------------
def _write_inventory(directory: Path, archive: Path, release: str, services: dict,
                     nodes: dict[str, Node]) -> Path:
    """An inventory laid out like cluster-example (hosts, group_vars/all, group_vars/app), its
    values pointed at the containers and the shared servers."""
    hosts = yaml.safe_load((EXAMPLE / "hosts.yml").read_text())
    main = yaml.safe_load((EXAMPLE / "group_vars/all/main.yml").read_text())
    app = yaml.safe_load((EXAMPLE / "group_vars/app.yml").read_text())
    groups = hosts["all"]["children"]
    assert "lb1" in groups["web"]["hosts"]
    assert {"app1", "app2"} <= set(groups["app"]["hosts"])
    hosts["all"].pop("vars", None)  # ansible_user: the containers are entered, not SSHed into
    for group in ("web", "app"):
        for name in list(groups[group]["hosts"]):
            if name not in nodes:
                del groups[group]["hosts"][name]
                continue
            machine = nodes[name].machine
            values = groups[group]["hosts"][name]
            values.update(ansible_host=str(machine.root),
                          ansible_connection="community.general.chroot",
                          ansible_chroot_exe=str(machine.chroot_wrapper()),
                          ansible_python_interpreter="/usr/bin/python3")
            if group == "app":
                values["aizoomdoc_bind_host"] = ADDRESSES[name]
    main.update(
        aizoomdoc_domain=DOMAIN, certbot_email="ops@aizoomdoc.test",
        certbot_acme_server=f"https://localhost:{PEBBLE_PORT}/dir",
        aizoomdoc_source="archive", aizoomdoc_archive_path=str(archive),
        aizoomdoc_version=f"cluster-{release}",
        aizoomdoc_pip_extra_args=f"--no-index --find-links {WHEELHOUSE_INSIDE}",
        aizoomdoc_supabase_url=services["chat_url"],
        aizoomdoc_supabase_projects_url=services["projects_url"],
        aizoomdoc_r2_endpoint_url=services["s3_url"], aizoomdoc_r2_bucket_name="cluster",
        aizoomdoc_workers=1,
        aizoomdoc_env_extra={
            # the offline engine answers, but a user's own Gemini key (the fake's) is used first
            "LLM_PROVIDER": "gemini",
            "GEMINI_BASE_URL": services["gemini_url"],
            "METRICS_ENABLED": "true",
            "METRICS_TOKEN": METRICS_TOKEN,
            "RUN_STALE_SECONDS": str(RUN_STALE_SECONDS),
            "GUNICORN_GRACEFUL_TIMEOUT": "5",
        },
    )
    for rule in app["firewall_extra_rules"]:
        rule["from"] = ADDRESSES["lb1"]
    vault = {"vault_aizoomdoc_jwt_secret_key": secrets.token_hex(32),
             "vault_aizoomdoc_supabase_service_key": API_KEY,
             "vault_aizoomdoc_supabase_projects_service_key": API_KEY,
             "vault_aizoomdoc_r2_access_key_id": "cluster-access-key",
             "vault_aizoomdoc_r2_secret_access_key": "cluster-secret-key"}
    (directory / "group_vars" / "all").mkdir(parents=True)
    (directory / "hosts.yml").write_text(yaml.safe_dump(hosts))
    (directory / "group_vars" / "all" / "main.yml").write_text(yaml.safe_dump(main))
    (directory / "group_vars" / "all" / "vault.yml").write_text(yaml.safe_dump(vault))
    (directory / "group_vars" / "app.yml").write_text(yaml.safe_dump(app))
    return directory / "hosts.yml"


def _start_services(network: Network, pg: PostgresCluster, chat_db: str, projects_db: str,
                    workdir: Path) -> tuple[subprocess.Popen, dict]:
    config = workdir / "services.json"
    ready = workdir / "services-ready.json"
    config.write_text(json.dumps({
        "host": BRIDGE_ADDRESS, "chat_dsn": pg.dsn(chat_db), "projects_dsn": pg.dsn(projects_db),
        "api_key": API_KEY, "bucket": "cluster", "s3_key_id": "cluster-access-key",
        "s3_secret": "cluster-secret-key", "ready_file": str(ready)}))
    log = open(workdir / "services.log", "wb")
    process = subprocess.Popen(
        network.exec([sys.executable, str(SERVICES), str(config)]), cwd=REPO, stdout=log,
        stderr=subprocess.STDOUT, start_new_session=True,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": f"{REPO}:{SERVICES.parent}",
             "AIZOOMDOC_ENV_FILE": ""})
    deadline = time.monotonic() + 120
    while not ready.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            raise AssertionError("the shared servers did not start:\n"
                                 + (workdir / "services.log").read_text()[-3000:])
        time.sleep(0.2)
    return process, json.loads(ready.read_text())


def _recap(run: PlaybookRun) -> dict[str, dict[str, int]]:
    hosts = {}
    for line in run.output.split("PLAY RECAP", 1)[-1].splitlines():
        match = re.match(r"^(\S+)\s*:\s*(ok=.*)$", line)
        if match:
            counts = re.findall(r"(\w+)=(\d+)", match.group(2))
            hosts[match.group(1)] = {k: int(v) for k, v in counts}
    return hosts


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> Iterator[Cluster]:
    deploy_bin("ansible-playbook")
    started = time.monotonic()
    try:
        check_host()
        tarball = rootfs_tarball(host_mirror(), SUITE)
    except MachineUnavailable as reason:
        missing(f"cannot run machine containers here: {reason}")
    try:
        pg = PostgresCluster().start()
    except PostgresUnavailable as reason:
        missing(f"PostgreSQL is not available: {reason}")
    from tests.support.fixtures import apply_chat_migrations, create_reference_projects

    services_process = None
    try:
        chat_db, projects_db = pg.create_database("cluster_chat"), pg.create_database("projects")
        apply_chat_migrations(pg.dsn(chat_db))  # what an operator pastes from `flask db sql`
        create_reference_projects(pg.dsn(projects_db))
        wheels = wheelhouse(REPO / "requirements.txt", image_facts(tarball))
        binds = {"app1": {wheels: WHEELHOUSE_INSIDE}, "app2": {wheels: WHEELHOUSE_INSIDE}}
        with booted_cluster(tarball, SUITE, DOMAIN, binds) as (network, nodes):
            workdir = tmp_path_factory.mktemp("cluster")
            services_process, services = _start_services(network, pg, chat_db, projects_db,
                                                         workdir)
            archive = workdir / "release.tar.gz"
            release = build_release_archive(REPO, archive)
            inventory = _write_inventory(workdir / "inventory", archive, release, services,
                                         nodes)
            state = Cluster(network, nodes, services, inventory, pg, chat_db)
            state.seconds["boot"] = time.monotonic() - started
            state.runs.append(state.playbook("first"))
            state.seconds["first_run"] = state.runs[0].seconds
            if state.runs[0].returncode == 0:
                state.runs.append(state.playbook("second"))
                state.seconds["second_run"] = state.runs[1].seconds
            try:
                yield state
            finally:
                state.seconds["total"] = time.monotonic() - started
                (CACHE_DIR / "last-cluster-seconds.json").write_text(
                    json.dumps(state.seconds, indent=1))
    finally:
        if services_process is not None:
            services_process.terminate()
            try:
                services_process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                services_process.kill()
        pg.stop()


# ---- the tests --------------------------------------------------------------------------------
def test_cluster_converges(cluster: Cluster) -> None:
    first = cluster.runs[0]
    assert first.returncode == 0, first.output[-6000:]
    recap = _recap(first)
    assert set(recap) == {"lb1", "app1", "app2"}, recap
    for host, counts in recap.items():
        assert counts["failed"] == 0 and counts["unreachable"] == 0, (host, counts)
        assert counts["changed"] > 0, (host, counts)


def test_second_run_changes_nothing(cluster: Cluster) -> None:
    cluster.require_converged()
    second = cluster.runs[1]
    assert second.returncode == 0, second.output[-6000:]
    recap = _recap(second)
    assert set(recap) == {"lb1", "app1", "app2"}, recap
    changed = second.changed_tasks()
    assert all(counts["changed"] == 0 for counts in recap.values()), (recap, changed)


def test_load_balancer_serves_https_in_front_of_both_app_hosts(cluster: Cluster) -> None:
    cluster.require_converged()
    answer = cluster.public(path="/health")
    assert answer["status"] == 200, answer
    issuer = " ".join(value for part in answer["issuer"] for _, value in part.items())
    assert "Pebble" in issuer, issuer
    site = cluster.run("lb1", "cat /etc/nginx/sites-available/aizoomdoc.conf", check=True).stdout
    for host in ("app1", "app2"):
        assert re.search(rf"server {ADDRESSES[host]}:{APP_PORT} max_fails=\d+ fail_timeout=", site)
        assert cluster.pinned(host, path="/health")["status"] == 200
        assert cluster.run(host, "systemctl is-active aizoomdoc").stdout.strip() == "active"
        env = cluster.run(host, "cat /etc/aizoomdoc/aizoomdoc.env", check=True).stdout
        assert f"HOST='{ADDRESSES[host]}'" in env and "SUPABASE_URL=" in env
    assert cluster.run("lb1", "test -e /etc/systemd/system/aizoomdoc.service").returncode != 0


def test_an_image_rendered_on_app1_is_served_by_app2_from_the_bucket(cluster: Cluster) -> None:
    """The first question with images of the cluster (both render caches are empty): asked on
    app1, then on app2."""
    cluster.require_converged()
    bearer = cluster.login(f"renders-{uuid.uuid4().hex[:6]}")
    document = cluster.services["document_id"]
    counted = {}
    ready = {}
    for host in ("app1", "app2"):
        before = cluster.renders(host)
        chat_id = cluster.ask(bearer, "Что на общем виде плана этажа?", pin=host,
                              attached_document_ids=[document])
        stream = cluster.pinned(host, path=f"/chats/{chat_id}/stream", headers=bearer, sse=True,
                                timeout=300)
        assert stream["events"][-1]["event"] == "completed", stream["events"][-3:]
        ready[host] = [json.loads(e["data"]) for e in stream["events"]
                       if e["event"] == "image_ready"]
        after = cluster.renders(host)
        counted[host] = {k: after[k] - before.get(k, 0) for k in after}
    assert ready["app1"] and counted["app1"]["miss"] >= 1, counted
    # app2 rendered nothing: every image app1 used came to app2 from the bucket
    assert counted["app2"]["miss"] == 0, counted
    assert counted["app2"]["hit"] == counted["app1"]["hit"] + counted["app1"]["miss"], counted
    assert [i["block_id"] for i in ready["app2"]] == [i["block_id"] for i in ready["app1"]]
    image = ready["app2"][0]["url"]
    fetched = subprocess.run(cluster.network.exec([
        sys.executable, "-c", "import sys, urllib.request; "
        "sys.stdout.buffer.write(urllib.request.urlopen(sys.argv[1], timeout=30).read()[:8])",
        image]), capture_output=True, timeout=60)
    assert fetched.stdout.startswith(b"\x89PNG"), fetched.stderr[-1000:]


def test_a_stream_re_attaches_on_the_other_app_host(cluster: Cluster) -> None:
    """Asked through the load balancer; re-attached, with Last-Event-ID, on the host that did
    not run the answer: the same events in order, and the same saved answer."""
    cluster.require_converged()
    bearer = cluster.login(f"reader-{uuid.uuid4().hex[:6]}")
    chat_id = cluster.ask(bearer, "Какая толщина наружных стен?",
                          attached_document_ids=[cluster.services["document_id"]])
    first = cluster.public(path=f"/chats/{chat_id}/stream", headers=bearer, sse=True, timeout=300)
    assert first["status"] == 200 and not first["cut"], first
    events = first["events"]
    assert events[-1]["event"] == "completed", events[-3:]
    ran_on = cluster.run_host(chat_id)
    other = {"app1": "app2", "app2": "app1"}[ran_on]
    stored = _stored(events)
    resume_from = stored[0][0]  # the client saw the first event, then lost the connection
    again = cluster.pinned(other, path=f"/chats/{chat_id}/stream", sse=True, timeout=120,
                           headers={**bearer, "Last-Event-ID": str(resume_from)})
    assert again["status"] == 200, again
    assert _stored(again["events"]) == stored[1:]
    final = json.loads(next(e["data"] for e in events if e["event"] == "llm_final"))
    for host in (other, ran_on):
        chat = cluster.pinned(host, path=f"/chats/{chat_id}", headers=bearer)
        assert chat["status"] == 200, chat
        messages = json.loads(chat["body"])["messages"]
        assert [m["role"] for m in messages] == ["user", "assistant"]
        assert messages[-1]["content"] == final["content"]


def test_app_port_is_open_to_the_load_balancer_only(cluster: Cluster) -> None:
    cluster.require_converged()
    for host, other in (("app1", "app2"), ("app2", "app1")):
        rules = cluster.run(host, "ufw status", check=True).stdout
        assert re.search(rf"{APP_PORT}/tcp\s+ALLOW\s+{re.escape(ADDRESSES['lb1'])}", rules), rules
        assert cluster.connects("lb1", host)
        assert not cluster.connects(None, host)  # the bridge's own address
        assert not cluster.connects(other, host)  # the other app host


def _slow_question(cluster: Cluster, bearer: dict) -> str:
    """A question the fake Gemini answers slowly (once), asked on app1."""
    tag = uuid.uuid4().hex[:8]
    return cluster.ask(bearer, f"{SLOW_MARK}-{tag}: расскажите о проекте подробно", pin="app1")


def _wait_running_on(cluster: Cluster, chat_id: str, host: str, stream: subprocess.Popen) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        rows = cluster.sql("SELECT status, worker FROM chat_runs WHERE chat_id = %s", chat_id)
        if rows and rows[0][0] == "running" and (rows[0][1] or "").startswith(f"{host}:"):
            time.sleep(3)  # a few chunks of the (minute-and-a-half long) answer are out
            assert stream.poll() is None, stream.communicate()
            return
        assert stream.poll() is None, stream.communicate()
        time.sleep(0.3)
    raise AssertionError(f"the answer never ran on {host}")


def _first_success(cluster: Cluster, bearer: dict, since: float) -> float:
    """Seconds from `since` to the first request the load balancer answers with 200."""
    while time.monotonic() - since < 120:
        answer = cluster.public(path="/chats", headers=bearer, timeout=30)
        if answer["status"] == 200:
            return time.monotonic() - since
        time.sleep(0.1)
    raise AssertionError("no request succeeded through the load balancer")


def _upstream_failures(cluster: Cluster, host: str) -> int:
    """Attempts nginx made on the host that failed (its [error] lines; taking the host out of the
    rotation adds a [warn] line, "upstream server temporarily disabled", not counted)."""
    log = cluster.run("lb1", "cat /var/log/nginx/error.log", check=True).stdout
    upstream = f'upstream: "http://{ADDRESSES[host]}:{APP_PORT}'
    return sum(1 for line in log.splitlines() if "[error]" in line and upstream in line)


def _interrupted_then_rerun(cluster: Cluster, bearer: dict, chat_id: str, cut: dict) -> None:
    """What the user sees after the host was lost: the answer ends with one `error` on
    re-attach (through the load balancer, so on app2), and `rerun=1` answers the question."""
    assert cut["status"] == 200, cut
    assert cut["cut"] or cut["events"][-1]["event"] != "completed", cut["events"][-3:]
    seen = cut["events"]
    assert any(e["event"] == "llm_token" for e in seen), seen[-5:]
    resume = seen[-1]["id"]
    again = cluster.public(path=f"/chats/{chat_id}/stream", sse=True, timeout=120,
                           headers={**bearer, "Last-Event-ID": resume})
    assert again["status"] == 200, again
    errors = [e for e in again["events"] if e["event"] == "error"]
    assert len(errors) == 1 and again["events"][-1]["event"] == "error", again["events"][-5:]
    assert json.loads(errors[0]["data"])["code"] == "run_interrupted", errors
    whole = cluster.public(path=f"/chats/{chat_id}/stream", sse=True, timeout=120, headers=bearer)
    assert [e["event"] for e in whole["events"]].count("error") == 1, whole["events"]
    rerun = cluster.public(path=f"/chats/{chat_id}/stream?rerun=1", sse=True, timeout=300,
                           headers=bearer)
    assert rerun["events"][-1]["event"] == "completed", rerun["events"][-3:]
    assert cluster.run_host(chat_id) == "app2"
    chat = json.loads(cluster.public(path=f"/chats/{chat_id}", headers=bearer)["body"])
    question = [m for m in chat["messages"] if m["role"] == "user"]
    assert len(question) == 1 and SLOW_MARK in question[0]["content"]  # nothing the user sent lost
    final = json.loads(next(e["data"] for e in rerun["events"] if e["event"] == "llm_final"))
    assert chat["messages"][-1]["role"] == "assistant"
    assert chat["messages"][-1]["content"] == final["content"]


def test_app1_stopped_mid_answer(cluster: Cluster) -> None:
    """`systemctl stop` on app1 while it streams an answer: the load balancer takes app1 out,
    app2 serves the next requests, and the interrupted answer ends with one error, then reruns."""
    cluster.require_converged()
    bearer = cluster.login(f"stop-{uuid.uuid4().hex[:6]}")
    key = cluster.public(method="PUT", path="/me/gemini-key", headers=bearer,
                         json={"api_key": GEMINI_KEY})
    assert key["status"] == 200, key
    chat_id = _slow_question(cluster, bearer)
    stream = cluster.pinned_background("app1", path=f"/chats/{chat_id}/stream", headers=bearer,
                                       sse=True, timeout=60)
    _wait_running_on(cluster, chat_id, "app1", stream)
    failures_before = _upstream_failures(cluster, "app1")
    stopped = time.monotonic()
    stopper = threading.Thread(target=cluster.run, args=("app1", "systemctl stop aizoomdoc"),
                               kwargs={"timeout": 120})
    stopper.start()
    try:
        while cluster.connects("lb1", "app1", timeout=1):  # its listener closes at once
            assert time.monotonic() - stopped < 30
            time.sleep(0.05)
        cluster.seconds["stop_to_first_success_on_app2"] = _first_success(cluster, bearer,
                                                                          stopped)
        statuses = [cluster.public(path="/health")["status"] for _ in range(10)]
        assert statuses == [200] * 10
        stopper.join(timeout=120)
        cut = json.loads(stream.communicate(timeout=120)[0])
        # nginx tried app1 at most max_fails times (3) before taking it out of the rotation
        assert _upstream_failures(cluster, "app1") - failures_before <= 3
        _interrupted_then_rerun(cluster, bearer, chat_id, cut)
    finally:
        stopper.join(timeout=120)
        cluster.run("app1", "systemctl start aizoomdoc", check=True, timeout=180)
    assert cluster.pinned("app1", path="/health")["status"] == 200


def test_app1_powered_off_mid_answer(cluster: Cluster) -> None:
    """app1 lost at once (its processes killed, its cable pulled) while it streams an answer."""
    cluster.require_converged()
    bearer = cluster.login(f"power-{uuid.uuid4().hex[:6]}")
    key = cluster.public(method="PUT", path="/me/gemini-key", headers=bearer,
                         json={"api_key": GEMINI_KEY})
    assert key["status"] == 200, key
    chat_id = _slow_question(cluster, bearer)
    stream = cluster.pinned_background("app1", path=f"/chats/{chat_id}/stream", headers=bearer,
                                       sse=True, timeout=60)
    _wait_running_on(cluster, chat_id, "app1", stream)
    failures_before = _upstream_failures(cluster, "app1")
    lost = time.monotonic()
    cluster.nodes["app1"].power_cut()
    cluster.network.unplug("app1")
    cluster.seconds["power_off_to_first_success_on_app2"] = _first_success(cluster, bearer, lost)
    statuses = [cluster.public(path="/health")["status"] for _ in range(10)]
    assert statuses == [200] * 10
    # each try on app1 cost at most nginx_proxy_connect_timeout, and there were at most max_fails
    assert _upstream_failures(cluster, "app1") - failures_before <= 3
    cut = json.loads(stream.communicate(timeout=120)[0])
    _interrupted_then_rerun(cluster, bearer, chat_id, cut)
