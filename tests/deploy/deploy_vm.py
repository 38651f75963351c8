"""A real VM under KVM for the VM test (test_vm.py): `vagrant up --provider=libvirt` with the box
scripts/build-box makes, all of it inside a network namespace this module creates.

libvirtd (and virtlogd) run as processes of the test inside the namespace `aizoomdoc-vm-<pid>`,
so the management network vagrant-libvirt makes (a bridge with NAT and DHCP), the VM's address and
the forwarded ports (vagrant-libvirt's `ssh -L` processes, started by vagrant, which also runs in
the namespace) exist only there; the machine's own namespace sees none of it. The namespace has
no route out: the VM reaches the Debian mirror through an HTTP proxy port in the namespace (a socat
pair through a unix socket to the host's mirror, as deploy_machine does for the containers) and
the app's wheels through a static file server in the namespace (the wheelhouse the converge test
downloads once).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from deploy_machine import (
    CACHE_DIR,
    MachineUnavailable,
    host_mirror,
    stop_processes,
    wheelhouse,
)
from deploy_support import PlaybookRun

REPO = Path(__file__).resolve().parents[2]
NETCLIENT = Path(__file__).with_name("deploy_netclient.py")
# vagrant-libvirt's management network (the Vagrantfile's AIZOOMDOC_MANAGEMENT_NETWORK)
SUBNET = "192.168.121"
GATEWAY = f"{SUBNET}.1"
APT_PROXY_PORT = 3142
WHEELS_PORT = 3143
HTTPS_PORT = 8443
HTTP_PORT = 8080
DOMAIN = "aizoomdoc.local"
TOOLS = ("vagrant", "libvirtd", "virtlogd", "virsh", "qemu-system-x86_64", "socat", "ip",
         "debootstrap", "parted", "mke2fs", "qemu-img")


def kvm_usable() -> bool:
    return Path("/dev/kvm").exists()


def kvm_unbootable_reason(kernel: Path | None, seconds: float = 30) -> str:
    """Why KVM cannot boot an ordinary Debian kernel here, or "" when it can.

    /dev/kvm may exist and open without running a standard guest: on machines whose /dev/kvm
    comes from PVM (the `kvm_pvm` module: a hypervisor without hardware virtualization, for guest
    kernels built for it) a Debian kernel hangs in real mode or crawls. Otherwise, given a kernel,
    it is booted once under KVM and must print its banner within `seconds` (without one, "").
    """
    flags = Path("/proc/cpuinfo").read_text()
    if Path("/sys/module/kvm_pvm").exists() and not re.search(r"\b(vmx|svm)\b", flags):
        return ("/dev/kvm is PVM's (module kvm_pvm, no vmx/svm on this CPU): it runs only "
                "guest kernels built for PVM")
    if kernel is None:
        return ""
    with tempfile.TemporaryDirectory(prefix="aizoomdoc-vm-probe-") as folder:
        serial = Path(folder) / "serial.log"
        process = subprocess.Popen(
            ["qemu-system-x86_64", "-enable-kvm", "-cpu", "host,arch-capabilities=off", "-m", "256",
             "-display", "none", "-nodefaults", "-no-reboot", "-serial", f"file:{serial}",
             "-kernel", str(kernel), "-append", "console=ttyS0 earlyprintk=serial,ttyS0 panic=-1"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline and process.poll() is None:
                if serial.exists() and b"Linux version" in serial.read_bytes():
                    return ""
                time.sleep(0.5)
            if serial.exists() and b"Linux version" in serial.read_bytes():
                return ""
            return f"KVM did not boot the box's kernel within {seconds:.0f} s"
        finally:
            process.kill()
            process.wait(timeout=10)


def check_host() -> None:
    """Raise MachineUnavailable when this machine cannot run the VM test (KVM is checked apart)."""
    if os.geteuid() != 0:
        raise MachineUnavailable("needs root (libvirtd, ip netns)")
    for tool in TOOLS:
        if shutil.which(tool) is None:
            raise MachineUnavailable(f"{tool} is not installed (scripts/setup-deploy-tests)")
    plugins = subprocess.run(["vagrant", "plugin", "list"], capture_output=True, text=True)
    if "vagrant-libvirt" not in plugins.stdout:
        raise MachineUnavailable("the vagrant-libvirt plugin is not installed "
                                 "(scripts/setup-deploy-tests)")


def box_packages() -> list[str]:
    """What the roles install with apt (their defaults, and the names in their tasks)."""
    import yaml

    common = yaml.safe_load((REPO / "roles/common/defaults/main.yml").read_text())
    app = yaml.safe_load((REPO / "roles/aizoomdoc/defaults/main.yml").read_text())
    return sorted({*common["common_base_packages"], *app["aizoomdoc_os_packages"], "nginx",
                   "certbot", "openssl", "ufw", "fail2ban", "python3-systemd"})


def build_box() -> tuple[Path, dict, float]:
    """The cached box (built when missing or its recipe changed), its facts, and seconds spent.

    The box has the roles' apt packages installed already: under QEMU's emulator (no working KVM)
    installing them is most of the provisioning time. The converge test covers installing them on
    a bare Debian 12.
    """
    started = time.monotonic()
    result = subprocess.run([str(REPO / "scripts" / "build-box")], capture_output=True,
                            text=True, timeout=1800,
                            env={**os.environ, "AIZOOMDOC_BOX_PACKAGES": " ".join(box_packages())})
    if result.returncode != 0:
        raise AssertionError(f"scripts/build-box failed:\n{result.stderr[-3000:]}")
    box = Path(result.stdout.strip().splitlines()[-1])
    facts = json.loads(box.with_suffix(".json").read_text())
    return box, facts, time.monotonic() - started


@dataclass
class Lab:
    """The namespace, the daemons and helpers this test started, and vagrant's environment."""

    tag: str
    workdir: Path
    processes: list[subprocess.Popen] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    kvm_mode: tuple[int, int, int] | None = None
    pool_existed: bool = True
    box_name: str = ""
    seconds: dict[str, float | str] = field(default_factory=dict)

    @property
    def namespace(self) -> str:
        return f"aizoomdoc-vm-{self.tag}"

    @property
    def domain(self) -> str:
        return f"aizoomdoc-vm-{self.tag}_default"

    def in_ns(self, argv: Sequence[str]) -> list[str]:
        return ["ip", "netns", "exec", self.namespace, *argv]

    def spawn(self, argv: Sequence[str], log_name: str) -> subprocess.Popen:
        log = open(self.workdir / f"{log_name}.log", "wb")
        process = subprocess.Popen(list(argv), stdout=log, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
        self.processes.append(process)
        return process

    def log(self, name: str) -> str:
        path = self.workdir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    # ---- vagrant and virsh ----
    def vagrant(self, *args: str, timeout: float = 1800, label: str = "") -> PlaybookRun:
        """Run a vagrant command in the namespace; its output is kept in the workdir."""
        started = time.monotonic()
        name = label or args[0]
        log = CACHE_DIR / f"last-vm-{name}.log"  # written as it runs: tail -f it
        with open(log, "wb") as stream:
            result = subprocess.run(self.in_ns(["vagrant", *args]), cwd=REPO, env=self.env,
                                    stdout=stream, stderr=subprocess.STDOUT, timeout=timeout)
        output = log.read_text(errors="replace")
        self.seconds[name] = round(time.monotonic() - started, 1)
        if result.returncode != 0:
            raise AssertionError(f"vagrant {' '.join(args)} failed ({result.returncode}):\n"
                                 f"{output[-6000:]}")
        return PlaybookRun(result.returncode, output, self.seconds[name], host="default")

    def ssh_config(self) -> Path:
        """`vagrant ssh-config`, written once the VM is up."""
        config = self.workdir / "ssh-config"
        if not config.exists():
            result = subprocess.run(self.in_ns(["vagrant", "ssh-config"]), cwd=REPO,
                                    env=self.env, capture_output=True, text=True, timeout=120)
            assert result.returncode == 0, result.stderr[-2000:]
            config.write_text(result.stdout)
        return config

    @property
    def ssh_control(self) -> Path:
        """The master connection's socket: short, as unix socket paths must be (108 bytes, and
        ssh adds a suffix while it sets the socket up)."""
        return Path(f"/tmp/aizoomdoc-vm-{self.tag}.ssh")

    def ssh(self, command: str, timeout: float = 120) -> str:
        """Run a command on the VM as the vagrant user.

        One multiplexed SSH connection serves every call: the firewall rate-limits SSH (ufw
        `limit`: a sixth connection within 30 s is dropped), and `vagrant ssh` would open one
        connection per call. (vagrant's ssh-config says LogLevel FATAL: ERROR shows why ssh failed.)
        """
        options = ["-F", str(self.ssh_config()), "-o", "LogLevel=ERROR",
                   "-o", f"ControlPath={self.ssh_control}"]
        if not self.ssh_control.exists():
            with open(self.workdir / "ssh-master.log", "ab") as log:
                subprocess.run(self.in_ns(["ssh", *options, "-o", "ControlMaster=yes",
                                           "-o", "ControlPersist=900", "-f", "-N", "default"]),
                               stdin=subprocess.DEVNULL, stdout=log, stderr=log, timeout=120)
        result = subprocess.run(self.in_ns(["ssh", *options, "default", command]),
                                stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                timeout=timeout)
        assert result.returncode == 0, (command, result.returncode, result.stdout[-2000:],
                                        result.stderr[-2000:], self.log("ssh-master"))
        return result.stdout

    def vagrant_ssh(self, command: str, timeout: float = 120) -> str:
        """`vagrant ssh -c command`, as a person would type it (one SSH connection)."""
        result = subprocess.run(self.in_ns(["vagrant", "ssh", "-c", command]), cwd=REPO,
                                env=self.env, capture_output=True, text=True, timeout=timeout)
        assert result.returncode == 0, (command, result.stdout[-2000:], result.stderr[-2000:])
        return result.stdout

    def vm_address(self) -> str:
        """The VM's address on the management network (the namespace reaches it directly)."""
        match = re.search(r"^\s*HostName\s+(\S+)", self.ssh_config().read_text(), re.M)
        assert match, self.ssh_config().read_text()
        return match.group(1)

    def reachable(self, address: str, port: int, seconds: float = 5) -> bool:
        """Whether a TCP connection from the namespace to address:port is accepted."""
        probe = ("import socket, sys\n"
                 "try:\n"
                 f"    socket.create_connection(({address!r}, {port}), timeout={seconds}).close()\n"
                 "except OSError:\n"
                 "    sys.exit(1)\n")
        result = subprocess.run(self.in_ns([sys.executable, "-c", probe]), capture_output=True,
                                timeout=seconds + 30)
        return result.returncode == 0

    def virsh(self, *args: str) -> str:
        result = subprocess.run(["virsh", "-q", "-c", "qemu:///system", *args],
                                capture_output=True, text=True, timeout=60)
        return result.stdout if result.returncode == 0 else ""

    def client(self, **request) -> dict:
        """One HTTP(S) request to a forwarded port, from inside the namespace."""
        request.setdefault("name", DOMAIN)
        request.setdefault("port", HTTPS_PORT if request.get("scheme", "https") == "https"
                           else HTTP_PORT)
        request.setdefault("ca", str(self.workdir / "site.pem"))
        argv = self.in_ns([sys.executable, str(NETCLIENT), json.dumps(request)])
        result = subprocess.run(argv, capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, f"request failed: {request}\n{result.stderr[-2000:]}"
        return json.loads(result.stdout)


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


def _wait(condition, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.3)
    raise MachineUnavailable(f"{what} did not come up")


def start(box: Path, facts: dict, driver: str) -> Lab:
    """The namespace with libvirtd, the proxies and vagrant's environment (no VM yet)."""
    mirror = host_mirror()
    wheels = wheelhouse(REPO / "requirements.txt", facts)
    tag = str(os.getpid())
    lab = Lab(tag=tag, workdir=Path(tempfile.mkdtemp(prefix="aizoomdoc-vm-", dir=CACHE_DIR)))
    try:
        _ip("netns", "add", lab.namespace)
        _ip("-n", lab.namespace, "link", "set", "lo", "up")
        # qemu runs as libvirt-qemu (group kvm): the device node is root's alone on this machine
        stat = os.stat("/dev/kvm")
        lab.kvm_mode = (stat.st_mode & 0o7777, stat.st_uid, stat.st_gid)
        os.chown("/dev/kvm", 0, _group_id("kvm"))
        os.chmod("/dev/kvm", 0o660)
        if Path("/run/libvirt/libvirt-sock").exists() and _libvirt_answers():
            raise MachineUnavailable("a libvirtd is already running on this machine")
        lab.spawn(lab.in_ns(["virtlogd"]), "virtlogd")
        lab.spawn(lab.in_ns(["libvirtd"]), "libvirtd")
        _wait(_libvirt_answers, 30, "libvirtd")
        lab.pool_existed = bool(lab.virsh("pool-info", "default"))
        socket_path = lab.workdir / "apt.sock"
        lab.spawn(["socat", f"UNIX-LISTEN:{socket_path},fork,mode=600", f"TCP:{mirror[0]}:80"],
                  "socat-host")
        _wait(socket_path.exists, 10, "the apt bridge")
        lab.spawn(lab.in_ns(["socat", f"TCP-LISTEN:{APT_PROXY_PORT},fork,reuseaddr",
                             f"UNIX-CONNECT:{socket_path}"]), "socat-namespace")
        lab.spawn(lab.in_ns([sys.executable, "-m", "http.server", str(WHEELS_PORT),
                             "--directory", str(wheels)]), "wheels")
        extra = lab.workdir / "extra-vars.json"
        extra.write_text(json.dumps({
            "aizoomdoc_pip_extra_args": f"--no-index --find-links http://{GATEWAY}:{WHEELS_PORT}/"
                                        f" --trusted-host {GATEWAY}",
        }))
        deploy_bin = Path(os.environ.get("AIZOOMDOC_DEPLOY_VENV", REPO / ".venv-deploy")) / "bin"
        lab.box_name = box.stem
        lab.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "VAGRANT_"))},
            "PATH": f"{deploy_bin}:{os.environ.get('PATH', '')}",
            "VAGRANT_HOME": str(lab.workdir / "vagrant-home"),
            "VAGRANT_DOTFILE_PATH": str(lab.workdir / "dot-vagrant"),
            "VAGRANT_DEFAULT_PROVIDER": "libvirt",
            "VAGRANT_CHECKPOINT_DISABLE": "1",
            "VAGRANT_NO_COLOR": "1",
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_FORCE_COLOR": "0",
            "AIZOOMDOC_BOX": str(box),
            "AIZOOMDOC_VM_PREFIX": f"aizoomdoc-vm-{tag}_",
            "AIZOOMDOC_APT_PROXY": f"http://{GATEWAY}:{APT_PROXY_PORT}",
            "AIZOOMDOC_EXTRA_VARS": str(extra),
            "AIZOOMDOC_HTTPS_PORT": str(HTTPS_PORT),
            "AIZOOMDOC_HTTP_PORT": str(HTTP_PORT),
            # nested KVM here cannot pass the host's IA32_ARCH_CAPABILITIES MSR to the guest
            "AIZOOMDOC_LIBVIRT_CPU_FEATURES_OFF": "arch-capabilities",
            "AIZOOMDOC_LIBVIRT_DRIVER": driver,
        }
        return lab
    except BaseException:
        stop(lab)
        raise


def _group_id(name: str) -> int:
    import grp

    return grp.getgrnam(name).gr_gid


def _libvirt_answers() -> bool:
    result = subprocess.run(["virsh", "-c", "qemu:///system", "version"], capture_output=True,
                            timeout=20)
    return result.returncode == 0


def leftovers(lab: Lab) -> list[str]:
    """Domains, volumes and networks of this test that libvirt still knows."""
    found = []
    for line in lab.virsh("list", "--all", "--name").split():
        if line.startswith(f"aizoomdoc-vm-{lab.tag}"):
            found.append(f"domain {line}")
    for line in lab.virsh("vol-list", "default").splitlines():
        name = line.split()[0] if line.split() else ""
        if name.startswith(f"aizoomdoc-vm-{lab.tag}"):
            found.append(f"volume {name}")
    for line in lab.virsh("net-list", "--all", "--name").split():
        if line == "aizoomdoc-vagrant":
            found.append(f"network {line}")
    return found


def _kill_namespace_processes(namespace: str) -> None:
    """Whatever vagrant left running in the namespace (its port-forwarding ssh processes)."""
    try:
        target = os.stat(f"/run/netns/{namespace}").st_ino
    except OSError:
        return
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.stat(entry / "ns" / "net").st_ino == target:
                os.kill(int(entry.name), signal.SIGKILL)
        except (OSError, ProcessLookupError):
            continue


def stop(lab: Lab) -> None:
    """Remove the VM, the box's volume, libvirt's objects of this test, the daemons and the
    namespace; keep the logs in the cache folder (last-vm-logs)."""
    if lab.env and (lab.workdir / "dot-vagrant").exists():
        subprocess.run(lab.in_ns(["vagrant", "destroy", "-f"]), cwd=REPO, env=lab.env,
                       capture_output=True, timeout=300)
    if _libvirt_answers():
        for name in lab.virsh("list", "--all", "--name").split():
            if name.startswith(f"aizoomdoc-vm-{lab.tag}"):
                lab.virsh("destroy", name)
                lab.virsh("undefine", name, "--remove-all-storage")
        for line in lab.virsh("vol-list", "default").splitlines():
            name = line.split()[0] if line.split() else ""
            if name.startswith((f"aizoomdoc-vm-{lab.tag}", lab.box_name or "-")):
                lab.virsh("vol-delete", name, "--pool", "default")
        for network in ("aizoomdoc-vagrant",):
            lab.virsh("net-destroy", network)
            lab.virsh("net-undefine", network)
        lab.virsh("net-destroy", "default")  # autostarted by libvirtd, in the namespace
        if not lab.pool_existed:
            lab.virsh("pool-destroy", "default")
            lab.virsh("pool-undefine", "default")
    _kill_namespace_processes(lab.namespace)
    stop_processes(lab.processes, seconds=15)
    subprocess.run(["ip", "netns", "del", lab.namespace], capture_output=True)
    lab.ssh_control.unlink(missing_ok=True)
    if lab.kvm_mode:
        mode, uid, gid = lab.kvm_mode
        os.chown("/dev/kvm", uid, gid)
        os.chmod("/dev/kvm", mode)
    logs = CACHE_DIR / "last-vm-logs"
    shutil.rmtree(logs, ignore_errors=True)
    logs.mkdir(parents=True)
    for log in lab.workdir.glob("*.log"):
        shutil.copy(log, logs / log.name)
    shutil.rmtree(lab.workdir, ignore_errors=True)
