"""VM test: `vagrant up --provider=libvirt` boots the Debian 12 box scripts/build-box makes under
KVM, and the Vagrantfile's ansible provisioner (ansible/site.yml with the vagrant inventory)
serves HTTPS from it through the forwarded port.

Everything network-facing is inside a namespace the test creates (deploy_vm): libvirtd, the
management network, the VM's address, the forwarded ports. The test reaches them with
`ip netns exec`.

Skips only when /dev/kvm is absent; anything else missing fails under CI
(tests/support/requirements).
The box is cached in /var/cache/aizoomdoc-tests/box (scripts/build-box).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator

import pytest
from deploy_machine import CACHE_DIR, MachineUnavailable
from deploy_support import deploy_bin
from deploy_vm import (
    DOMAIN,
    Lab,
    build_box,
    check_host,
    kvm_boots,
    kvm_usable,
    leftovers,
    start,
    stop,
)

from tests.support.requirements import missing

pytestmark = [pytest.mark.vm, pytest.mark.slow]


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    """The namespace with libvirtd; the VM is brought up by `up`, destroyed by the last test."""
    if not kvm_usable():
        pytest.skip("/dev/kvm is absent: this machine cannot run a KVM virtual machine")
    deploy_bin("ansible-playbook")
    try:
        check_host()
    except MachineUnavailable as reason:
        missing(f"cannot run a VM here: {reason}")
    started = time.monotonic()
    box, facts, box_seconds = build_box()
    driver = os.environ.get("AIZOOMDOC_LIBVIRT_DRIVER", "")
    if not driver:
        driver = "kvm" if kvm_boots(box.with_suffix(".vmlinuz")) else "qemu"
        if driver == "qemu" and os.environ.get("AIZOOMDOC_VM_EMULATED") != "1":
            # deliberately a skip even under CI: /dev/kvm is there but not usable, and the
            # emulated run takes longer than the suite's budget allows
            pytest.skip("/dev/kvm opens but KVM cannot boot the box's kernel within 30 s (nested "
                        "KVM on this machine); AIZOOMDOC_VM_EMULATED=1 runs the VM on QEMU's "
                        "emulator instead (about 20 minutes more)")
    lab = start(box, facts, driver)
    lab.seconds["box"] = round(box_seconds, 1)
    lab.seconds["driver"] = driver
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
    created = up.ssh("sudo -u aizoomdoc sh -c 'cd /opt/aizoomdoc/current && "
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


def test_second_provision_changes_nothing(up: Lab) -> None:
    run = up.vagrant("provision", label="provision")
    assert run.recap.get("failed") == 0, run.output[-4000:]
    assert run.recap.get("changed") == 0, run.changed_tasks()


def test_destroy_leaves_nothing_behind(up: Lab) -> None:
    up.vagrant("destroy", "-f", label="destroy", timeout=300)
    assert leftovers(up) == []
