"""A throw-away systemd machine container for the converge test.

A Debian root made by debootstrap (cached as a tarball) is booted with systemd-nspawn in its own
network namespace, with systemd as PID 1, so the roles' units, timers, ufw and fail2ban really run.
The container has no route out: apt reaches the host's Debian mirror through an HTTP proxy port on
the container's loopback, bridged by two socats (container TCP -> unix socket -> host -> mirror).
Pebble (Let's Encrypt's ACME test server) runs as a host process inside the container's network
namespace, where it validates HTTP-01 challenges against the container's nginx.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

CACHE_DIR = Path(os.environ.get("AIZOOMDOC_TEST_CACHE", "/var/cache/aizoomdoc-tests"))
# Debian 12 and 13 stand in for Ubuntu 22.04 and 24.04 (the Ubuntu archive is not reachable here).
SUITES = ("bookworm", "trixie")
DEBOOTSTRAP_INCLUDE = (
    "systemd,systemd-sysv,dbus,python3,iproute2,ca-certificates,procps,sudo"
)
CONTAINER_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
APT_PROXY_PORT = 3142
PEBBLE_PORT = 14000
PEBBLE_MANAGEMENT_PORT = 15000
PEBBLE_DNS_PORT = 8053
CGROUP_ROOT = Path("/sys/fs/cgroup")


class MachineUnavailable(Exception):
    """This machine cannot run the container (the test skips with this reason; fails under CI)."""


def host_mirror() -> tuple[str, str]:
    """The (host, path) of the Debian mirror named in the host's apt sources."""
    texts = []
    for path in [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]:
        if path.is_file() and path.suffix in ("", ".list", ".sources"):
            texts.append(path.read_text(errors="replace"))
    for text in texts:
        for line in text.splitlines():
            words = line.split("#", 1)[0].split()
            uris = words[1:] if words[:1] in (["URIs:"], ["deb"]) else []
            for uri in uris:
                match = re.match(r"http://([^/\s]+)(/\S*?)/?$", uri)
                path = match.group(2) if match else ""
                if "debian" in path and not path.endswith("-security"):
                    return match.group(1), path
    raise MachineUnavailable("no http:// Debian mirror in the host's apt sources")


def _locked(path: Path):
    """An exclusive lock file, so that parallel runs build each cache entry once."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "w")
    fcntl.flock(handle, fcntl.LOCK_EX)
    return handle


def rootfs_tarball(mirror: tuple[str, str], suite: str) -> Path:
    """The cached debootstrap root of a Debian suite (about a minute to build the first time)."""
    key = hashlib.sha256(f"{suite}|{DEBOOTSTRAP_INCLUDE}".encode()).hexdigest()[:12]
    tarball = CACHE_DIR / f"rootfs-{suite}-{key}.tar"
    with _locked(CACHE_DIR / "rootfs.lock"):
        if tarball.exists() and tarball.with_suffix(".json").exists():
            return tarball
        build = Path(tempfile.mkdtemp(prefix="rootfs-", dir=CACHE_DIR))
        try:
            result = subprocess.run(
                ["debootstrap", "--variant=minbase", f"--include={DEBOOTSTRAP_INCLUDE}", suite,
                 str(build / "root"), f"http://{mirror[0]}{mirror[1]}"],
                capture_output=True, text=True, timeout=900,
            )
            if result.returncode != 0:
                raise MachineUnavailable(f"debootstrap failed: {result.stdout[-800:]}")
            facts = subprocess.run(
                ["chroot", str(build / "root"), "/usr/bin/python3", "-c",
                 "import json, platform; print(json.dumps({'python': platform.python_version(),"
                 " 'glibc': platform.libc_ver()[1]}))"],
                capture_output=True, text=True, check=True).stdout.strip()
            tarball.with_suffix(".json").write_text(facts)
            partial = tarball.with_suffix(".partial")
            subprocess.run(["tar", "-C", str(build / "root"), "--numeric-owner", "-cf",
                            str(partial), "."], check=True)
            partial.rename(tarball)
        finally:
            shutil.rmtree(build, ignore_errors=True)
    return tarball


def _prune_wheelhouses(max_age_days: float = 14) -> None:
    """Drop wheelhouses of old requirements that no run used for two weeks."""
    for old in CACHE_DIR.glob("wheels-*"):
        marker = old / ".complete"
        if not marker.exists() or time.time() - marker.stat().st_mtime > max_age_days * 86400:
            shutil.rmtree(old, ignore_errors=True)


def _manylinux_platforms(glibc_minor: int) -> list[str]:
    """--platform options for every manylinux tag the image's glibc runs."""
    arch = os.uname().machine
    tags = [f"manylinux_2_{minor}_{arch}" for minor in range(glibc_minor, 4, -1)]
    tags += [f"manylinux{alias}_{arch}" for alias in ("2014", "2010", "1")]
    return [option for tag in tags for option in ("--platform", tag)]


def image_facts(tarball: Path) -> dict[str, str]:
    """The image's Python and glibc versions (the wheelhouse is resolved for them)."""
    return json.loads(tarball.with_suffix(".json").read_text())


def wheelhouse(requirements: Path, facts: dict[str, str]) -> Path:
    """Wheels of the app's requirements for the container's Python, downloaded on the host.

    Resolved for that exact Python version, so a dependency that needs a newer Python than the
    target system has fails here, as it would on the server.
    """
    python_version = facts["python"]
    key = hashlib.sha256(requirements.read_bytes() + json.dumps(facts).encode()).hexdigest()[:12]
    target = CACHE_DIR / f"wheels-{key}"
    major, minor = python_version.split(".")[:2]
    with _locked(CACHE_DIR / "wheels.lock"):
        if (target / ".complete").exists():
            (target / ".complete").touch()  # marks it as used (see _prune_wheelhouses)
            return target
        _prune_wheelhouses()
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        result = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
             "--only-binary=:all:", "--python-version", python_version, "--implementation", "cp",
             "--abi", f"cp{major}{minor}",
             *_manylinux_platforms(int(facts["glibc"].split(".")[1])),
             "-r", str(requirements), "-d", str(target)],
            capture_output=True, text=True, timeout=1200)
        if result.returncode != 0:
            raise AssertionError(f"the requirements do not resolve for Python {python_version}:\n"
                                 f"{result.stderr[-3000:]}")
        (target / ".complete").touch()
    return target


def pebble_listener_ca() -> tuple[Path, Path, Path]:
    """A CA and a localhost certificate for pebble's own HTTPS listener (cached)."""
    directory = CACHE_DIR / "pebble-tls"
    ca, cert, key = directory / "ca.pem", directory / "cert.pem", directory / "key.pem"
    with _locked(CACHE_DIR / "pebble-tls.lock"):
        if cert.exists():
            return ca, cert, key
        directory.mkdir(parents=True, exist_ok=True)
        ca_key = directory / "ca-key.pem"
        openssl = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3650"]
        subprocess.run([*openssl, "-subj", "/CN=aizoomdoc converge test ACME listener CA",
                        "-keyout", str(ca_key), "-out", str(ca)], check=True, capture_output=True)
        csr = directory / "cert.csr"
        subprocess.run(["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
                        "-keyout", str(key), "-out", str(csr)], check=True, capture_output=True)
        extensions = directory / "ext.cnf"
        extensions.write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
        subprocess.run(["openssl", "x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey",
                        str(ca_key), "-CAcreateserial", "-days", "3650", "-extfile",
                        str(extensions), "-out", str(cert)], check=True, capture_output=True)
    return ca, cert, key


def build_release_archive(source: Path, target: Path) -> str:
    """A release tarball of the working tree (no virtualenvs, state, VCS or caches).

    Returns a short digest of its content, used as the release name.
    """
    skip_dirs = {".venv", ".venv-deploy", "var", ".git", "__pycache__", ".pytest_cache",
                 ".mypy_cache", ".ruff_cache", "node_modules", ".vagrant", ".cache"}
    digest = hashlib.sha256()
    with tarfile.open(target, "w:gz") as archive:
        for directory, dirs, files in os.walk(source):
            dirs[:] = sorted(d for d in dirs if d not in skip_dirs)
            for name in sorted(files):
                if name.endswith((".pyc", ".pyo")) or name == ".env":  # no developer secrets
                    continue
                if name == ".git":  # a file in a git worktree: it points at the host's repository
                    continue
                path = Path(directory) / name
                relative = path.relative_to(source)
                archive.add(path, arcname=str(relative), recursive=False)
                if path.is_file() and not path.is_symlink():
                    digest.update(str(relative).encode() + path.read_bytes())
    return digest.hexdigest()[:12]


@dataclass
class Machine:
    """One booted container and the host processes that serve it."""

    name: str
    workdir: Path
    root: Path
    leader: int = 0
    processes: list[subprocess.Popen] = field(default_factory=list)
    nspawn: subprocess.Popen | None = None

    # ---- running things ----
    def run(self, command: str, timeout: float = 120, check: bool = False,
            ) -> subprocess.CompletedProcess:
        """Run a shell command inside the container (all its namespaces, its root)."""
        result = subprocess.run(
            ["nsenter", "-t", str(self.leader), "-m", "-u", "-i", "-n", "-p", "-r", "-w", "--",
             "/usr/bin/env", "-i", f"PATH={CONTAINER_PATH}", "LANG=C.UTF-8", "HOME=/root",
             "/bin/sh", "-c", command],
            capture_output=True, text=True, timeout=timeout,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"{command!r} failed ({result.returncode}):\n"
                                 f"{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
        return result

    def in_netns(self, argv: Sequence[str]) -> list[str]:
        """argv prefixed to run as a host process inside the container's network namespace."""
        return ["nsenter", f"--net=/proc/{self.leader}/ns/net", "--", *argv]

    def spawn(self, argv: Sequence[str], log_name: str, env: dict | None = None,
              ) -> subprocess.Popen:
        """Start a helper process of this test (its own session, so it is stopped as a group)."""
        log = open(self.workdir / f"{log_name}.log", "wb")
        process = subprocess.Popen(list(argv), stdout=log, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True,
                                   env={**os.environ, **(env or {})})
        self.processes.append(process)
        return process

    def chroot_wrapper(self) -> Path:
        """An executable for Ansible's chroot connection that enters the booted container.

        The chroot plugin calls it as `<wrapper> <root> <shell> -c <command>`; it drops the root
        argument and runs the command in the container's namespaces, where systemd is PID 1.
        """
        wrapper = self.workdir / "enter-container"
        wrapper.write_text(
            "#!/bin/sh\nshift\n"
            f"exec nsenter -t {self.leader} -m -u -i -n -p -r -w -- /usr/bin/env -i "
            f"PATH={CONTAINER_PATH} LANG=C.UTF-8 HOME=/root \"$@\"\n"
        )
        wrapper.chmod(0o755)
        return wrapper

    def log(self, name: str) -> str:
        path = self.workdir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""


def _find_leader(nspawn_pid: int, deadline: float) -> int:
    """PID (on the host) of the container's systemd, a child of systemd-nspawn."""
    while time.monotonic() < deadline:
        try:
            children = Path(f"/proc/{nspawn_pid}/task/{nspawn_pid}/children").read_text().split()
        except OSError:
            children = []
        for child in children:
            try:
                if Path(f"/proc/{child}/comm").read_text().strip() == "systemd":
                    return int(child)
            except OSError:
                continue
        time.sleep(0.1)
    return 0


def _prepare_root(machine: Machine, mirror: tuple[str, str], suite: str, domain: str,
                  ca: Path) -> None:
    """Files the image needs before boot: names, apt sources and proxy, the ACME listener CA."""
    root = machine.root
    (root / "etc/hostname").write_text("converge\n")
    (root / "etc/hosts").write_text(f"127.0.0.1 localhost converge {domain}\n::1 localhost\n")
    host, prefix = mirror
    (root / "etc/apt/sources.list").write_text(
        f"deb http://{host}{prefix} {suite} main\n"
        f"deb http://{host}{prefix} {suite}-updates main\n"
        f"deb http://{host}{prefix}-security {suite}-security main\n"
    )
    (root / "etc/apt/apt.conf.d/00converge-proxy").write_text(
        f'Acquire::http::Proxy "http://127.0.0.1:{APT_PROXY_PORT}";\n'
    )
    (root / "etc/machine-id").write_text("")
    ca_dir = root / "usr/local/share/ca-certificates"
    ca_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy(ca, ca_dir / "aizoomdoc-converge-acme.crt")


def _wait_booted(machine: Machine, deadline: float) -> None:
    state = ""
    while time.monotonic() < deadline:
        state = machine.run("systemctl is-system-running", timeout=20).stdout.strip()
        if state in ("running", "degraded"):
            return
        time.sleep(0.3)
    raise MachineUnavailable(f"the container did not finish booting (state {state!r}): "
                             f"{machine.log('nspawn')[-800:]}")


def _start_apt_bridge(machine: Machine, mirror: tuple[str, str]) -> None:
    socket_path = machine.workdir / "apt.sock"
    machine.spawn(["socat", f"UNIX-LISTEN:{socket_path},fork,mode=600",
                   f"TCP:{mirror[0]}:80"], "socat-host")
    for _ in range(50):
        if socket_path.exists():
            break
        time.sleep(0.1)
    machine.spawn(machine.in_netns(["socat", f"TCP-LISTEN:{APT_PROXY_PORT},bind=127.0.0.1,fork,"
                                    "reuseaddr", f"UNIX-CONNECT:{socket_path}"]), "socat-container")


def _start_pebble(machine: Machine, cert: Path, key: Path) -> None:
    config = machine.workdir / "pebble.json"
    config.write_text(
        '{"pebble": {"listenAddress": "127.0.0.1:%d", "managementListenAddress": "127.0.0.1:%d",'
        ' "certificate": "%s", "privateKey": "%s", "httpPort": 80, "tlsPort": 443,'
        ' "ocspResponderURL": "", "externalAccountBindingRequired": false}}'
        % (PEBBLE_PORT, PEBBLE_MANAGEMENT_PORT, cert, key)
    )
    machine.spawn(machine.in_netns(["pebble-challtestsrv", "-defaultIPv4", "127.0.0.1",
                                    "-defaultIPv6", "", "-dns01", f"127.0.0.1:{PEBBLE_DNS_PORT}",
                                    "-http01", "", "-https01", "", "-tlsalpn01", "",
                                    "-management", "127.0.0.1:8055"]), "challtestsrv")
    machine.spawn(machine.in_netns(["pebble", "-config", str(config), "-dnsserver",
                                    f"127.0.0.1:{PEBBLE_DNS_PORT}"]), "pebble",
                  env={"PEBBLE_VA_NOSLEEP": "1", "PEBBLE_WFE_NONCEREJECT": "0",
                       "PEBBLE_AUTHZREUSE": "100"})


def _remove_nspawn_leftovers() -> None:
    """What nspawn leaves behind on a host without systemd: its runtime dir and cgroups."""
    shutil.rmtree("/run/systemd/nspawn", ignore_errors=True)
    for hierarchy in ("unified", "systemd"):
        for name in ("payload", "supervisor"):
            top = CGROUP_ROOT / hierarchy / name
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


def stop_processes(processes: list[subprocess.Popen], seconds: float) -> None:
    """SIGTERM each helper's process group (last started first); SIGKILL what outlives `seconds`."""
    for process in reversed(processes):
        if process.poll() is None:
            try:
                os.killpg(process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    for process in processes:
        try:
            process.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)


def play_recap(output: str, host: str) -> dict[str, int]:
    """The PLAY RECAP counters (ok, changed, failed, ...) of one host in ansible's output."""
    match = re.search(rf"^\s*{re.escape(host)}\s*:\s*(ok=.+)$", output, re.M)
    if not match:
        return {}
    return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", match.group(1))}


def changed_tasks(output: str) -> list[str]:
    """Names of the tasks (and handlers) that reported a change in ansible's output."""
    changed, task = [], ""
    for line in output.splitlines():
        line = line.strip()
        if line.startswith(("TASK [", "RUNNING HANDLER [")):
            task = line.split("[", 1)[1].rsplit("]", 1)[0]
        elif line.startswith("changed:"):
            changed.append(task)
    return changed


def _stop(machine: Machine) -> None:
    """Stop the container and every helper process this test started, then remove the root."""
    if machine.nspawn is not None and machine.nspawn.poll() is None:
        machine.nspawn.send_signal(signal.SIGTERM)  # nspawn asks the container to power off
        try:
            machine.nspawn.wait(timeout=10)
        except subprocess.TimeoutExpired:
            # The container is thrown away: killing its PID 1 ends every process inside at once.
            if machine.leader:
                os.kill(machine.leader, signal.SIGKILL)
            try:
                machine.nspawn.wait(timeout=10)
            except subprocess.TimeoutExpired:
                machine.nspawn.kill()
                machine.nspawn.wait(timeout=10)
    stop_processes(machine.processes, seconds=10)
    _remove_nspawn_leftovers()
    shutil.rmtree(machine.root, ignore_errors=True)


def check_host() -> None:
    """Raise MachineUnavailable when this machine cannot run the converge test."""
    if os.geteuid() != 0:
        raise MachineUnavailable("needs root (systemd-nspawn, nsenter)")
    for tool in ("systemd-nspawn", "debootstrap", "nsenter", "socat", "pebble",
                 "pebble-challtestsrv", "openssl"):
        if shutil.which(tool) is None:
            raise MachineUnavailable(f"{tool} is not installed (scripts/setup-deploy-tests)")
    if not (CGROUP_ROOT / "systemd").is_dir() and not (CGROUP_ROOT / "cgroup.controllers").exists():
        raise MachineUnavailable("no cgroup hierarchy systemd-nspawn can use")


@contextmanager
def booted_machine(tarball: Path, suite: str, domain: str, extra_binds: dict[Path, str],
                   ) -> Iterator[Machine]:
    """Boot a fresh container from the cached root; stop and remove everything afterwards."""
    mirror = host_mirror()
    ca, cert, key = pebble_listener_ca()
    apt_cache = CACHE_DIR / f"apt-archives-{suite}"
    (apt_cache / "partial").mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="run-", dir=CACHE_DIR))
    machine = Machine(name=f"aizoomdoc-converge-{os.getpid()}", workdir=workdir,
                      root=workdir / "root")
    _remove_nspawn_leftovers()
    try:
        machine.root.mkdir()
        subprocess.run(["tar", "-C", str(machine.root), "--numeric-owner", "-xf", str(tarball)],
                       check=True)
        _prepare_root(machine, mirror, suite, domain, ca)
        binds = {apt_cache: "/var/cache/apt/archives", **extra_binds}
        log = open(workdir / "nspawn.log", "wb")
        machine.nspawn = subprocess.Popen(
            ["systemd-nspawn", "-D", str(machine.root), "-M", machine.name, "--boot",
             "--register=no", "--keep-unit", "--private-network", "--console=passive",
             "--timezone=off", "--resolv-conf=off",
             *[f"--bind={host}:{inside}" for host, inside in binds.items()]],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        machine.leader = _find_leader(machine.nspawn.pid, time.monotonic() + 30)
        if not machine.leader:
            raise MachineUnavailable(f"systemd-nspawn did not boot: {machine.log('nspawn')[-800:]}")
        _wait_booted(machine, time.monotonic() + 60)
        _start_apt_bridge(machine, mirror)
        _start_pebble(machine, cert, key)
        machine.run("update-ca-certificates", check=True)
        yield machine
    finally:
        _stop(machine)
        logs = CACHE_DIR / f"last-run-logs-{suite}"
        shutil.rmtree(logs, ignore_errors=True)
        logs.mkdir()
        for log in workdir.glob("*.log"):
            shutil.copy(log, logs / log.name)
        shutil.rmtree(workdir, ignore_errors=True)
