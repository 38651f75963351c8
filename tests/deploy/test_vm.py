"""VM test: `vagrant up --provider=libvirt` boots the Debian 12 box scripts/build-box makes, and
the Vagrantfile's ansible provisioner (ansible/site.yml with the vagrant inventory) serves HTTPS
from it through the forwarded port; a real kernel's firewall and fail2ban bans are checked too.

Everything network-facing is inside a namespace the test creates (deploy_vm): libvirtd, the
management network, the VM's address, the forwarded ports. The test reaches them with
`ip netns exec`.

Skips when /dev/kvm is absent, or cannot boot an ordinary kernel (PVM's /dev/kvm) unless
AIZOOMDOC_VM_EMULATED=1 runs the VM on QEMU's emulator; anything else missing fails under CI
(tests/support/requirements). The box is cached in /var/cache/aizoomdoc-tests/box
(scripts/build-box).
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterator

import pytest
from deploy_machine import CACHE_DIR, MachineUnavailable
from deploy_support import deploy_bin
from deploy_vm import (
    DOMAIN,
    GATEWAY,
    Lab,
    build_box,
    check_host,
    kvm_unbootable_reason,
    kvm_usable,
    leftovers,
    start,
    stop,
)

from tests.support.requirements import missing

pytestmark = [pytest.mark.vm, pytest.mark.slow]


def _skip_unless_emulated(emulated_because: str) -> None:
    """Skip (also under CI) where KVM cannot boot the box, unless AIZOOMDOC_VM_EMULATED=1: the
    emulated run (about 40 minutes on two cores) does not fit in the suite's hour."""
    if emulated_because and os.environ.get("AIZOOMDOC_VM_EMULATED") != "1":
        pytest.skip(f"{emulated_because}; AIZOOMDOC_VM_EMULATED=1 runs the VM on QEMU's "
                    "emulator instead (TCG: about 40 minutes)")


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    """The namespace with libvirtd; the VM is brought up by `up`, destroyed by the last test."""
    if not kvm_usable():
        pytest.skip("/dev/kvm is absent: this machine cannot run a KVM virtual machine")
    driver = os.environ.get("AIZOOMDOC_LIBVIRT_DRIVER", "")
    emulated_because = "" if driver else kvm_unbootable_reason(None)
    _skip_unless_emulated(emulated_because)  # before building a box it would not boot
    deploy_bin("ansible-playbook")
    try:
        check_host()
    except MachineUnavailable as reason:
        missing(f"cannot run a VM here: {reason}")
    started = time.monotonic()
    box, facts, box_seconds = build_box()
    if not driver and not emulated_because:
        emulated_because = kvm_unbootable_reason(box.with_suffix(".vmlinuz"))
        _skip_unless_emulated(emulated_because)
    driver = driver or ("qemu" if emulated_because else "kvm")
    lab = start(box, facts, driver)
    lab.seconds["box"] = round(box_seconds, 1)
    lab.seconds["driver"] = driver
    if emulated_because:
        lab.seconds["emulated_because"] = emulated_because
    try:
        yield lab
    finally:
        stop(lab)
        lab.seconds["total"] = round(time.monotonic() - started, 1)
        (CACHE_DIR / "last-vm-seconds.json").write_text(json.dumps(lab.seconds, indent=1))


@pytest.fixture(scope="module")
def up(lab: Lab) -> Lab:
    """`vagrant up`: box added, VM booted, provisioned once; the site's certificate fetched."""
    run = lab.vagrant("up", "--provider=libvirt", label="up")
    assert run.recap.get("failed") == 0 and run.recap.get("unreachable") == 0, run.output[-4000:]
    (lab.workdir / "site.pem").write_text(
        lab.ssh(f"sudo cat /etc/ssl/aizoomdoc/{DOMAIN}/fullchain.pem"))
    memory = lab.ssh("free -m | awk '/^Mem:/ {print $3}'").strip()
    lab.seconds["vm_memory_used_mb"] = float(memory or 0)
    return lab


def test_vagrant_up_serves_health_over_https(up: Lab) -> None:
    answer = up.client(path="/health")
    assert answer["status"] == 200, answer
    assert json.loads(answer["body"])["status"] == "healthy"


def test_question_answered_through_nginx(up: Lab) -> None:
    created = up.vagrant_ssh("sudo -u aizoomdoc sh -c 'cd /opt/aizoomdoc/current && "
                             f".venv/bin/flask users create vmtest-{time.monotonic_ns()}'")
    token = created.strip().splitlines()[-1].strip()
    exchange = up.client(method="POST", path="/auth/exchange", json={"static_token": token})
    assert exchange["status"] == 200, exchange
    bearer = {"Authorization": f"Bearer {json.loads(exchange['body'])['access_token']}"}
    chat = up.client(method="POST", path="/chats", headers=bearer, json={"title": "vm"})
    assert chat["status"] == 201, chat
    chat_id = json.loads(chat["body"])["id"]
    message = up.client(method="POST", path=f"/chats/{chat_id}/messages", headers=bearer,
                        json={"content": "Что на листе 1?"})
    assert message["status"] == 201, message
    stream = up.client(path=f"/chats/{chat_id}/stream", headers=bearer, sse=True, timeout=300)
    assert stream["status"] == 200, stream
    assert stream["headers"]["content-type"].startswith("text/event-stream")
    events = [event.get("event") for event in stream["events"]]
    assert events and events[-1] == "completed", events


def _eventually(condition, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(1)
    return condition()


def test_firewall_drops_a_port_it_does_not_open(up: Lab) -> None:
    """A listener on every address of the VM, on a port no ufw rule opens, is unreachable from
    the host while the web port is reachable (nspawn's converge test cannot see this)."""
    address, port = up.vm_address(), 9099
    assert "Status: active" in up.ssh("sudo ufw status")
    up.ssh(f"sudo systemd-run --unit=vmtest-listener python3 -m http.server {port} --bind 0.0.0.0")
    try:
        assert _eventually(lambda: f"0.0.0.0:{port}" in up.ssh("ss -Hltn"), 30)
        assert up.reachable(address, 443), "the open web port is unreachable: the probe is broken"
        assert not up.reachable(address, port), f"port {port} is reachable through the firewall"
    finally:
        up.ssh("sudo systemctl stop vmtest-listener")


def test_five_failed_exchanges_ban_the_client(up: Lab) -> None:
    """fail2ban's aizoomdoc-auth jail bans an address after five failed token exchanges (on the
    web ports only: SSH stays open), with the kernel's firewall; the test then unbans it."""
    address, jail = up.vm_address(), "aizoomdoc-auth"

    def exchange() -> int:
        answer = up.client(address=address, port=443, method="POST", path="/auth/exchange",
                           json={"static_token": "not-a-token"})
        return answer["status"]

    def failed() -> int:
        status = up.ssh(f"sudo fail2ban-client status {jail}")
        found = re.search(r"Total failed:\s*(\d+)", status)
        return int(found.group(1)) if found else -1

    assert failed() == 0
    try:
        for _ in range(4):
            assert exchange() in (401, 403, 429)
        assert _eventually(lambda: failed() == 4, 30), up.ssh(f"sudo fail2ban-client status {jail}")
        assert up.reachable(address, 443), "banned after four failures"
        assert exchange() in (401, 403, 429)
        assert _eventually(lambda: not up.reachable(address, 443, seconds=3), 30), \
            "not banned after five failed exchanges"
        assert GATEWAY in up.ssh(f"sudo fail2ban-client status {jail}")
        assert up.reachable(address, 22), "the ban closed SSH too"
    finally:
        up.ssh(f"sudo fail2ban-client set {jail} unbanip {GATEWAY} || true")
    assert _eventually(lambda: up.reachable(address, 443), 15), "still banned after unbanip"


def test_second_provision_changes_nothing(up: Lab) -> None:
    run = up.vagrant("provision", label="provision")
    assert run.recap.get("failed") == 0, run.output[-4000:]
    assert run.recap.get("changed") == 0, run.changed_tasks()


def test_destroy_leaves_nothing_behind(up: Lab) -> None:
    up.vagrant("destroy", "-f", label="destroy", timeout=300)
    assert leftovers(up) == []
