"""Converge test: ansible/site.yml applied to a real systemd machine container.

Debian 12 (bookworm) stands in for Ubuntu 22.04/24.04: the Ubuntu archive is not reachable here.
The container boots with systemd-nspawn in its own network namespace, so units, timers, nginx,
certbot (against pebble, Let's Encrypt's ACME test server), ufw and fail2ban really run.

What it cannot check: that ufw blocks traffic from another host. The container's only interface
is its loopback, which ufw always allows, so no packet can arrive that a rule would drop; the test
checks the rules in ufw's configuration and that ufw loaded them into the container's netfilter
tables.
It also cannot check Ubuntu itself, the Vagrant box, or a real Let's Encrypt issuance.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tarfile
import time
from pathlib import Path

import pytest
from deploy_machine import PEBBLE_PORT
from deploy_support import DOMAIN, Converged

pytestmark = pytest.mark.converge

APP_UNITS = ("aizoomdoc.service", "aizoomdoc-cache-prune.timer", "aizoomdoc-logs-prune.timer",
             "aizoomdoc-backup.timer")
# Installed by earlier versions of the aizoomdoc role; the app's purge worker replaced it.
RETIRED_TIMER = "aizoomdoc-chats-purge"


def test_playbook_converges(converged: Converged) -> None:
    first = converged.runs[0]
    assert first.returncode == 0, first.output[-6000:]
    assert first.recap.get("failed") == 0 and first.recap.get("unreachable") == 0
    assert first.recap.get("changed", 0) > 0


def test_second_run_changes_nothing(converged: Converged) -> None:
    converged.require_converged()
    second = converged.runs[1]
    assert second.returncode == 0, second.output[-6000:]
    assert second.recap.get("changed") == 0, second.changed_tasks()


def test_nginx_configuration_is_valid(converged: Converged) -> None:
    converged.require_converged()
    result = converged.machine.run("nginx -t")
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr


def test_units_are_active_and_verified(converged: Converged) -> None:
    converged.require_converged()
    machine = converged.machine
    for unit in (*APP_UNITS, "nginx.service", "fail2ban.service", "certbot.timer"):
        assert machine.run(f"systemctl is-active {unit}").stdout.strip() == "active", unit
        assert machine.run(f"systemctl is-enabled {unit}").stdout.strip() == "enabled", unit
    units = " ".join(f"/etc/systemd/system/{unit}" for unit in APP_UNITS)
    services = " ".join(
        f"/etc/systemd/system/{unit.replace('.timer', '.service')}" for unit in APP_UNITS[1:])
    # systemd-analyze exits 0 on unknown keys: a clean verify also prints nothing on stderr.
    verify = machine.run(f"systemd-analyze verify {units} {services}")
    assert verify.returncode == 0 and verify.stderr.strip() == "", verify.stderr
    security = machine.run("systemctl show aizoomdoc.service -p NoNewPrivileges -p ProtectSystem "
                           "-p ReadWritePaths -p Restart -p User").stdout
    assert "NoNewPrivileges=yes" in security and "ProtectSystem=strict" in security
    assert "Restart=on-failure" in security and "User=aizoomdoc" in security
    assert "/var/aizoomdoc" in security


def test_deleted_chats_are_purged_by_the_app(converged: Converged) -> None:
    """No timer purges chats: the app's background worker holds the purge lock of the host."""
    converged.require_converged()
    machine = converged.machine
    assert machine.run(f"test -e /etc/systemd/system/{RETIRED_TIMER}.timer").returncode != 0
    env = machine.run("cat /etc/aizoomdoc/aizoomdoc.env", check=True).stdout
    assert "PURGE_INTERVAL_SECONDS='30'" in env
    held = False
    for _ in range(90):  # the worker takes the lock on its first pass, 30 s after a first request
        converged.client(path="/health", ca=str(converged.acme_root()))
        if machine.run("flock -n /var/aizoomdoc/data/purge.lock true").returncode == 1:
            held = True
            break
        time.sleep(1)
    assert held, "no process holds /var/aizoomdoc/data/purge.lock: the purge worker is not running"


def test_app_restarts_after_kill_9(converged: Converged) -> None:
    converged.require_converged()
    machine = converged.machine
    main_pid = machine.run("systemctl show -p MainPID --value aizoomdoc").stdout.strip()
    assert main_pid not in ("", "0")
    machine.run(f"kill -9 {main_pid}", check=True)
    new_pid, state = main_pid, ""
    for _ in range(120):  # systemd restarts it after RestartSec; ExecStartPost waits for health
        new_pid = machine.run("systemctl show -p MainPID --value aizoomdoc").stdout.strip()
        state = machine.run("systemctl is-active aizoomdoc").stdout.strip()
        if state == "active" and new_pid not in ("0", main_pid):
            break
        time.sleep(0.5)
    assert state == "active" and new_pid not in ("0", main_pid), (state, new_pid)
    restarts = machine.run("systemctl show -p NRestarts --value aizoomdoc").stdout.strip()
    assert int(restarts) >= 1
    answer = converged.client(path="/health", ca=str(converged.acme_root()))
    assert answer["status"] == 200


def test_health_over_https_with_acme_certificate(converged: Converged) -> None:
    converged.require_converged()
    # The client trusts only pebble's root: the handshake fails unless nginx serves the
    # certificate certbot obtained from pebble through the webroot challenge.
    answer = converged.client(path="/health", ca=str(converged.acme_root()))
    assert answer["status"] == 200, answer
    assert json.loads(answer["body"])["status"] == "healthy"
    issuer = " ".join(value for part in answer["issuer"] for _, value in part.items())
    assert "Pebble" in issuer, issuer
    assert answer["headers"]["strict-transport-security"].startswith("max-age=")
    live = converged.machine.run(f"readlink -f /etc/ssl/aizoomdoc/{DOMAIN}/fullchain.pem").stdout
    assert live.startswith(f"/etc/letsencrypt/archive/{DOMAIN}/"), live


def test_web_page_over_https_with_static_files_from_nginx(converged: Converged) -> None:
    converged.require_converged()
    ca = str(converged.acme_root())
    page = converged.client(path="/", ca=ca, headers={"Accept": "text/html"})
    assert page["status"] == 200 and page["headers"]["content-type"].startswith("text/html")
    assert '<div id="app"' in page["body"], page["body"][:500]
    assert "script-src 'self'" in page["headers"]["content-security-policy"]
    script = re.search(r'src="(/static/web/[0-9a-f]{12}/app\.js)"', page["body"])
    assert script, page["body"][:500]
    module = converged.client(path=script.group(1), ca=ca)
    assert module["status"] == 200 and "import" in module["body"]
    assert "immutable" in module["headers"]["cache-control"]
    assert "x-request-id" not in module["headers"]  # nginx served it, not the app


def test_http_redirects_to_https_except_acme(converged: Converged) -> None:
    converged.require_converged()
    redirect = converged.client(scheme="http", path="/health?x=1")
    assert redirect["status"] == 301
    assert redirect["headers"]["location"] == f"https://{DOMAIN}/health?x=1"
    converged.machine.run("echo converge-token > "
                          "/var/www/letsencrypt/.well-known/acme-challenge/converge", check=True)
    challenge = converged.client(scheme="http", path="/.well-known/acme-challenge/converge")
    assert challenge["status"] == 200 and challenge["body"].strip() == "converge-token"


def test_certificate_renewal_dry_run(converged: Converged) -> None:
    converged.require_converged()
    result = converged.machine.run(
        f"certbot renew --dry-run --no-random-sleep-on-renew --cert-name {DOMAIN} "
        f"--server https://localhost:{PEBBLE_PORT}/dir",
        timeout=300)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    hook = converged.machine.run(
        "test -x /etc/letsencrypt/renewal-hooks/deploy/50-aizoomdoc-reload-nginx")
    assert hook.returncode == 0


def _login(converged: Converged) -> str:
    created = converged.machine.run(
        "cd /opt/aizoomdoc/current && runuser -u aizoomdoc -- .venv/bin/flask users create "
        f"converge-{time.monotonic_ns()}", timeout=120)
    assert created.returncode == 0, created.stderr[-2000:]
    token = created.stdout.strip().splitlines()[-1].strip()
    ca = str(converged.acme_root())
    answer = converged.client(method="POST", path="/auth/exchange", ca=ca,
                              json={"static_token": token})
    assert answer["status"] == 200, answer
    return json.loads(answer["body"])["access_token"]


def test_sse_stream_passes_through_nginx(converged: Converged) -> None:
    converged.require_converged()
    ca = str(converged.acme_root())
    bearer = {"Authorization": f"Bearer {_login(converged)}"}
    chat = converged.client(method="POST", path="/chats", ca=ca, headers=bearer,
                            json={"title": "converge"})
    assert chat["status"] == 201, chat
    chat_id = json.loads(chat["body"])["id"]
    message = converged.client(method="POST", path=f"/chats/{chat_id}/messages", ca=ca,
                               headers=bearer, json={"content": "Что на листе 1?"})
    assert message["status"] == 201, message
    stream = converged.client(path=f"/chats/{chat_id}/stream", ca=ca, headers=bearer, sse=True,
                              timeout=300)
    assert stream["status"] == 200, stream
    assert stream["headers"]["content-type"].startswith("text/event-stream")
    assert "content-encoding" not in stream["headers"]  # gzip would hold events back
    events = stream["events"]
    # the deployed app runs the local engine over an empty projects tree: it answers that no
    # document was found, and completes (an `error` here is a broken deployment)
    assert events and events[-1]["event"] == "completed", events[-3:]
    assert "llm_final" in [event["event"] for event in events], events
    for event in events:
        assert "event" in event and "id" in event
        json.loads(event["data"])


def test_nginx_passes_sse_events_one_by_one(converged: Converged) -> None:
    """nginx forwards each event as soon as the upstream sends it (no buffering, no gzip).

    The app is swapped for deploy_sse_probe on its port: the probe sends its second event only
    after the client, behind nginx, has received the first one, so a buffering proxy deadlocks.
    """
    converged.require_converged()
    machine = converged.machine
    probe = machine.root / "var/tmp/deploy_sse_probe.py"
    shutil.copy(Path(__file__).with_name("deploy_sse_probe.py"), probe)
    machine.run("systemctl stop aizoomdoc", check=True, timeout=120)
    try:
        machine.run("systemd-run --unit converge-sse-probe /usr/bin/python3 "
                    "/var/tmp/deploy_sse_probe.py 8000 8001", check=True)
        machine.run("for i in $(seq 100); do ss -ltn | grep -q '127.0.0.1:8000 ' && exit 0; "
                    "sleep 0.1; done; exit 1", check=True)
        stream = converged.client(path="/probe/stream", ca=str(converged.acme_root()), sse=True,
                                  release_port=8001, timeout=60)
    finally:
        machine.run("systemctl stop converge-sse-probe")
        machine.run("systemctl start aizoomdoc", check=True, timeout=180)
    assert stream["status"] == 200, stream
    assert [event["data"] for event in stream["events"]] == ['{"n": 1}', '{"n": 2}']
    assert stream["reads_with_events"] == 2


def test_fail2ban_jails_are_running(converged: Converged) -> None:
    converged.require_converged()
    status = converged.machine.run("fail2ban-client status", check=True).stdout
    for jail in ("sshd", "nginx-limit-req", "aizoomdoc-auth"):
        assert jail in status, status


def test_failed_token_exchanges_are_counted_and_rate_limited(converged: Converged) -> None:
    converged.require_converged()
    ca = str(converged.acme_root())
    statuses = [converged.client(method="POST", path="/auth/exchange", ca=ca,
                                 json={"static_token": f"wrong-{n}"})["status"]
                for n in range(8)]
    assert 401 in statuses and 429 in statuses, statuses  # nginx limit_req: burst 5
    matched = converged.machine.run(
        "fail2ban-regex /var/log/nginx/access.log /etc/fail2ban/filter.d/aizoomdoc-auth.conf",
        check=True).stdout
    hits = int(re.search(r"Failregex: (\d+) total", matched).group(1))
    assert hits >= 8, matched
    limited = converged.machine.run(
        "fail2ban-regex /var/log/nginx/error.log /etc/fail2ban/filter.d/nginx-limit-req.conf",
        check=True).stdout
    assert int(re.search(r"Failregex: (\d+) total", limited).group(1)) >= 1


def test_nginx_passes_uploads_up_to_the_apps_limit(converged: Converged) -> None:
    """The app judges bodies up to its MAX_FILE_SIZE_MB (100); nginx refuses larger ones by their
    Content-Length, in the app's error format."""
    converged.require_converged()
    ca = str(converged.acme_root())
    # 60 MB announced (headers only): over nginx's former 50m, under the app's limit; nginx
    # streams request bodies, so the app answers at once (no token: 401, its JSON)
    answer = converged.client(method="POST", path="/files/upload", ca=ca,
                              headers={"Content-Type": "multipart/form-data; boundary=x"},
                              declared_length=60 * 1024 * 1024)
    assert answer["status"] == 401, answer
    assert json.loads(answer["body"])["error"] == "missing_token", answer
    refused = converged.client(method="POST", path="/files/upload", ca=ca,
                               declared_length=150 * 1024 * 1024)
    assert refused["status"] == 413, refused
    assert refused["headers"]["content-type"] == "application/json", refused
    assert json.loads(refused["body"])["error"] == "payload_too_large", refused


def test_ufw_rules_are_configured_and_loaded(converged: Converged) -> None:
    """ufw's rules are in its configuration and loaded into the container's netfilter tables.

    Enforcement against another host cannot be shown here: the container has only a loopback
    interface, which ufw always accepts.
    """
    converged.require_converged()
    machine = converged.machine
    rules = machine.run("cat /etc/ufw/user.rules /etc/ufw/user6.rules", check=True).stdout
    assert "### tuple ### limit tcp 22 " in rules
    assert "### tuple ### allow tcp 80 " in rules and "### tuple ### allow tcp 443 " in rules
    assert 'ENABLED=yes' in machine.run("cat /etc/ufw/ufw.conf", check=True).stdout
    status = machine.run("ufw status verbose", check=True).stdout
    assert "Status: active" in status and "deny (incoming)" in status
    loaded = machine.run("iptables -S ufw-user-input", check=True).stdout
    assert "--dport 443" in loaded and "--dport 80" in loaded


def test_backup_copies_databases_and_configuration(converged: Converged) -> None:
    converged.require_converged()
    machine = converged.machine
    machine.run("systemctl start aizoomdoc-backup.service", check=True, timeout=120)
    latest = machine.run("ls -1d /var/backups/aizoomdoc/2* | tail -n 1", check=True).stdout.strip()
    files = machine.run(f"ls -1 {latest}", check=True).stdout.split()
    assert "aizoomdoc.env" in files
    databases = machine.run("ls -1 /var/aizoomdoc/data/*.db 2>/dev/null").stdout.split()
    for database in databases:
        name = database.rsplit("/", 1)[-1]
        assert name in files
        check = machine.run(f"sqlite3 {latest}/{name} 'PRAGMA integrity_check'", check=True)
        assert check.stdout.strip() == "ok"


def _git_repository(converged: Converged) -> str:
    """A git repository of the release, inside the container; returns its commit."""
    repository = converged.machine.root / "srv" / "converge-git"
    repository.mkdir(parents=True)
    with tarfile.open(converged.machine.workdir / "release.tar.gz") as archive:
        archive.extractall(repository, filter="data")
    (repository / "CONVERGE_UPDATE").write_text("a change only the git release has\n")
    git = ["git", "-C", str(repository), "-c", "user.name=converge", "-c",
           "user.email=converge@aizoomdoc.test"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "converge update"], check=True)
    return subprocess.run([*git, "rev-parse", "HEAD"], check=True, capture_output=True,
                          text=True).stdout.strip()


def _plant_retired_timer(converged: Converged) -> None:
    """The chats-purge timer as earlier versions of the role left it on a host: enabled, active."""
    units = converged.machine.root / "etc/systemd/system"
    (units / f"{RETIRED_TIMER}.service").write_text(
        "[Unit]\nDescription=AIZoomDoc: purge chats scheduled for deletion\n\n"
        "[Service]\nType=oneshot\nExecStart=/bin/true\n")
    (units / f"{RETIRED_TIMER}.timer").write_text(
        "[Unit]\nDescription=AIZoomDoc: purge chats scheduled for deletion\n\n"
        "[Timer]\nOnCalendar=*:0/15\n\n[Install]\nWantedBy=timers.target\n")
    converged.machine.run(
        f"systemctl daemon-reload && systemctl enable --now {RETIRED_TIMER}.timer", check=True)


def test_update_from_git_then_roll_back(converged: Converged) -> None:
    """An update deploys a new release beside the old one; the documented rollback works.

    The host also carries the chats-purge timer of earlier role versions: the update retires it.
    """
    converged.require_converged()
    machine = converged.machine
    old = machine.run("readlink /opt/aizoomdoc/current", check=True).stdout.strip()
    commit = _git_repository(converged)
    _plant_retired_timer(converged)
    update = converged.playbook("update", aizoomdoc_source="git",
                                aizoomdoc_git_repo="/srv/converge-git", aizoomdoc_version=commit)
    assert update.returncode == 0, update.output[-6000:]
    assert "aizoomdoc : Restart aizoomdoc" in update.changed_tasks()
    for suffix in ("timer", "service"):
        assert machine.run(f"test -e /etc/systemd/system/{RETIRED_TIMER}.{suffix}").returncode != 0
    assert machine.run(f"systemctl is-active {RETIRED_TIMER}.timer").stdout.strip() != "active"
    new = machine.run("readlink /opt/aizoomdoc/current", check=True).stdout.strip()
    assert new == f"/opt/aizoomdoc/releases/{commit}"
    assert machine.run(f"test -f {new}/CONVERGE_UPDATE && test -d {old}/.venv").returncode == 0
    ca = str(converged.acme_root())
    assert converged.client(path="/health", ca=ca)["status"] == 200
    machine.run(f"ln -sfn {old} /opt/aizoomdoc/current && systemctl restart aizoomdoc",
                check=True, timeout=180)
    assert machine.run("readlink /opt/aizoomdoc/current").stdout.strip() == old
    assert machine.run("systemctl is-active aizoomdoc").stdout.strip() == "active"
    assert converged.client(path="/health", ca=ca)["status"] == 200
