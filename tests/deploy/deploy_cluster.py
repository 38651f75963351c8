"""Three machine containers on one private bridge, for the cluster test (test_cluster.py).

Everything network-facing lives in network namespaces this module creates (`ip netns add`),
never in the machine's own: a *cluster* namespace holds the bridge (BRIDGE_ADDRESS, where the
test runs the shared servers) and each container gets a namespace of its own, wired to the bridge
by a veth pair (its `eth0`, with its address in ADDRESSES). systemd-nspawn boots each container
into its namespace (`--network-namespace-path`), each in a cgroup of its own.

The containers share what the single-host converge test caches (deploy_machine): the debootstrap
root, unpacked once into a tree that every container mounts as the lower layer of an overlay (so
a container costs no copy), the apt archive cache (each container writes through an overlay of
its own: apt locks its archive folder, so three parallel installs cannot share one; new packages
are copied back into the shared cache afterwards) and the wheelhouse.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from deploy_machine import (
    CACHE_DIR,
    CGROUP_ROOT,
    Machine,
    MachineUnavailable,
    _find_leader,
    _locked,
    _prepare_root,
    _start_apt_bridge,
    _start_pebble,
    _stop,
    _wait_booted,
    host_mirror,
    pebble_listener_ca,
)

SUBNET = "10.77.0"
BRIDGE_ADDRESS = f"{SUBNET}.1"
ADDRESSES = {"lb1": f"{SUBNET}.20", "app1": f"{SUBNET}.21", "app2": f"{SUBNET}.22"}
CGROUP_HIERARCHIES = ("systemd", "unified")


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


@dataclass
class Network:
    """The cluster's namespace with its bridge, and one namespace per container."""

    tag: str
    members: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"azd-{self.tag}"

    def member_ns(self, member: str) -> str:
        return f"{self.name}-{member}"

    def create(self) -> None:
        _ip("netns", "add", self.name)
        _ip("-n", self.name, "link", "set", "lo", "up")
        _ip("-n", self.name, "link", "add", "br0", "type", "bridge")
        _ip("-n", self.name, "addr", "add", f"{BRIDGE_ADDRESS}/24", "dev", "br0")
        _ip("-n", self.name, "link", "set", "br0", "up")

    def add(self, member: str, address: str) -> Path:
        """A namespace for a container, plugged into the bridge; returns its path."""
        namespace = self.member_ns(member)
        _ip("netns", "add", namespace)
        self.members.append(member)
        _ip("-n", self.name, "link", "add", f"v{member}", "type", "veth", "peer", "name", "eth0",
            "netns", namespace)
        _ip("-n", self.name, "link", "set", f"v{member}", "master", "br0", "up")
        _ip("-n", namespace, "link", "set", "lo", "up")
        _ip("-n", namespace, "addr", "add", f"{address}/24", "dev", "eth0")
        _ip("-n", namespace, "link", "set", "eth0", "up")
        return Path("/run/netns") / namespace

    def unplug(self, member: str) -> None:
        """Pull the container's cable: its veth pair is gone, nothing reaches its address."""
        _ip("-n", self.name, "link", "del", f"v{member}")

    def exec(self, argv: Sequence[str], member: str | None = None) -> list[str]:
        """argv prefixed to run in the cluster's namespace (or in a container's)."""
        namespace = self.member_ns(member) if member else self.name
        return ["nsenter", f"--net=/run/netns/{namespace}", "--", *argv]

    def remove(self) -> None:
        for namespace in [self.member_ns(m) for m in self.members] + [self.name]:
            subprocess.run(["ip", "netns", "del", namespace], capture_output=True)


def base_tree(tarball: Path) -> Path:
    """The debootstrap root unpacked once (cached next to its tarball), the containers' lower
    layer; it is never written to."""
    tree = tarball.with_suffix(".tree")
    with _locked(CACHE_DIR / "rootfs-tree.lock"):
        marker = tree / ".complete"
        if marker.exists() and marker.stat().st_mtime >= tarball.stat().st_mtime:
            return tree
        shutil.rmtree(tree, ignore_errors=True)
        (tree / "root").mkdir(parents=True)
        subprocess.run(["tar", "-C", str(tree / "root"), "--numeric-owner", "-xf", str(tarball)],
                       check=True)
        (tree / ".complete").touch()
    return tree


def _overlay(lower: Path, directory: Path) -> Path:
    """An overlay of `lower` whose writes land in `directory`/upper; returns the mount point."""
    for part in ("upper", "work", "merged"):
        (directory / part).mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "overlay", "overlay", "-o",
                    f"lowerdir={lower},upperdir={directory / 'upper'},workdir={directory / 'work'}",
                    str(directory / "merged")], check=True, capture_output=True, text=True)
    return directory / "merged"


def _umount(path: Path) -> None:
    if path.is_dir() and os.path.ismount(path):
        result = subprocess.run(["umount", str(path)], capture_output=True)
        if result.returncode != 0:
            subprocess.run(["umount", "-l", str(path)], capture_output=True)


def _own_cgroup(name: str) -> list[Path]:
    """A cgroup per container in each hierarchy nspawn uses: two containers started from one
    cgroup would both create its `payload` child and share it."""
    made = []
    for hierarchy in CGROUP_HIERARCHIES:
        top = CGROUP_ROOT / hierarchy
        if top.is_dir():
            path = top / name
            path.mkdir(exist_ok=True)
            made.append(path)
    return made


def _remove_cgroups(paths: list[Path]) -> None:
    for top in paths:
        if not top.is_dir():
            continue
        for directory in sorted(top.rglob("*"), key=lambda p: len(p.parts), reverse=True):
            if directory.is_dir():
                try:
                    directory.rmdir()
                except OSError:
                    pass
        try:
            top.rmdir()
        except OSError:
            pass


@dataclass
class Node:
    """One container of the cluster: its Machine, role name, address and mounts."""

    member: str
    address: str
    machine: Machine
    cgroups: list[Path] = field(default_factory=list)
    apt_dir: Path | None = None
    lost: bool = False

    def power_cut(self) -> None:
        """The host is gone at once: every process of the container is killed (its PID 1), and
        its cable pulled (the caller unplugs it from the bridge)."""
        os.kill(self.machine.leader, signal.SIGKILL)
        self.machine.nspawn.wait(timeout=30)
        self.lost = True


def _boot(node: Node, netns_path: Path, lower: Path, suite: str, domain: str,
          binds: dict[Path, str], mirror: tuple[str, str]) -> None:
    machine = node.machine
    ca, cert, key = pebble_listener_ca()
    root = _overlay(lower / "root", machine.workdir / "rootfs")
    machine.root = root
    _prepare_root(machine, mirror, suite, domain, ca)
    (root / "etc/hostname").write_text(f"{node.member}\n")
    (root / "etc/hosts").write_text(
        f"127.0.0.1 localhost {node.member} {domain if node.member == 'lb1' else ''}\n"
        f"::1 localhost\n")
    node.apt_dir = machine.workdir / "apt"
    apt = _overlay(CACHE_DIR / f"apt-archives-{suite}", node.apt_dir)
    node.cgroups = _own_cgroup(machine.name)

    def enter_cgroup() -> None:
        for path in node.cgroups:
            (path / "cgroup.procs").write_text(str(os.getpid()))

    mounts = {apt: "/var/cache/apt/archives", **binds}
    log = open(machine.workdir / "nspawn.log", "wb")
    machine.nspawn = subprocess.Popen(
        ["systemd-nspawn", "-D", str(root), "-M", machine.name, "--boot", "--register=no",
         "--keep-unit", f"--network-namespace-path={netns_path}", "--console=passive",
         "--timezone=off", "--resolv-conf=off",
         *[f"--bind={host}:{inside}" for host, inside in mounts.items()]],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
        preexec_fn=enter_cgroup)
    machine.leader = _find_leader(machine.nspawn.pid, time.monotonic() + 30)
    if not machine.leader:
        raise MachineUnavailable(f"systemd-nspawn did not boot: {machine.log('nspawn')[-800:]}")


def _after_boot(node: Node, mirror: tuple[str, str]) -> None:
    machine = node.machine
    _wait_booted(machine, time.monotonic() + 120)
    _start_apt_bridge(machine, mirror)
    if node.member == "lb1":
        _, cert, key = pebble_listener_ca()
        _start_pebble(machine, cert, key)
        machine.run("update-ca-certificates", check=True)


def _save_apt_archives(nodes: list[Node], suite: str) -> None:
    """Packages a container downloaded go into the shared apt cache (for the next runs)."""
    shared = CACHE_DIR / f"apt-archives-{suite}"
    with _locked(CACHE_DIR / f"apt-archives-{suite}.lock"):
        for node in nodes:
            if node.apt_dir is None:
                continue
            for deb in (node.apt_dir / "upper").glob("*.deb"):
                if not (shared / deb.name).exists():
                    shutil.copy2(deb, shared / f".{deb.name}.partial")
                    (shared / f".{deb.name}.partial").rename(shared / deb.name)


def _stop_node(node: Node) -> None:
    machine = node.machine
    if machine.nspawn is not None and machine.nspawn.poll() is None:
        machine.nspawn.send_signal(signal.SIGTERM)
        try:
            machine.nspawn.wait(timeout=15)
        except subprocess.TimeoutExpired:
            if machine.leader:
                try:
                    os.kill(machine.leader, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            machine.nspawn.wait(timeout=15)
    _umount(machine.workdir / "apt" / "merged")
    _umount(machine.workdir / "rootfs" / "merged")
    _stop(machine)  # the helper processes; nspawn's leftovers; the (now empty) mount point
    _remove_cgroups(node.cgroups)


@contextmanager
def booted_cluster(tarball: Path, suite: str, domain: str, binds: dict[str, dict[Path, str]],
                   ) -> Iterator[tuple[Network, dict[str, Node]]]:
    """lb1, app1, app2 booted on the cluster's bridge; everything removed afterwards."""
    mirror = host_mirror()
    tag = f"{os.getpid()}"
    network = Network(tag)
    workdir = Path(tempfile_dir(prefix="cluster-"))
    nodes: dict[str, Node] = {}
    lower = base_tree(tarball)
    (CACHE_DIR / f"apt-archives-{suite}" / "partial").mkdir(parents=True, exist_ok=True)
    try:
        network.create()
        for member, address in ADDRESSES.items():
            directory = workdir / member
            directory.mkdir()
            machine = Machine(name=f"azd{tag}{member}", workdir=directory,
                              root=directory / "rootfs" / "merged")
            nodes[member] = Node(member, address, machine)
            _boot(nodes[member], network.add(member, address), lower, suite, domain,
                  binds.get(member, {}), mirror)
        for node in nodes.values():
            _after_boot(node, mirror)
        yield network, nodes
    finally:
        try:
            _save_apt_archives(list(nodes.values()), suite)
        finally:
            for node in nodes.values():
                _stop_node(node)
            network.remove()
            logs = CACHE_DIR / "last-cluster-logs"
            shutil.rmtree(logs, ignore_errors=True)
            logs.mkdir()
            for log in workdir.glob("*/*.log"):
                shutil.copy(log, logs / f"{log.parent.name}-{log.name}")
            shutil.rmtree(workdir, ignore_errors=True)


def tempfile_dir(prefix: str) -> str:
    import tempfile

    return tempfile.mkdtemp(prefix=prefix, dir=CACHE_DIR)


def python_in(network: Network, argv: Sequence[str], member: str | None = None) -> list[str]:
    """The test's Python running argv in the cluster's (or a container's) namespace."""
    return network.exec([sys.executable, *argv], member)
