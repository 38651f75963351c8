"""Static checks of the deployment: ansible-lint, syntax checks, role layout, Vagrantfile."""

from __future__ import annotations

import json
import re
import subprocess

import pytest
import yaml
from deploy_support import REPO, ansible_env, deploy_bin

from tests.support.requirements import require_tool

ROLES = ("common", "firewall", "fail2ban", "nginx", "certbot", "aizoomdoc")
INVENTORIES = ("example", "cluster-example", "vagrant")


def _run(argv: list[str], **extra_env: str) -> subprocess.CompletedProcess:
    return subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=300,
                          env=ansible_env(**extra_env))


def test_ansible_lint_production_profile_passes() -> None:
    result = _run([str(deploy_bin("ansible-lint")), "-c", "ansible/.ansible-lint", "--offline",
                   "--nocolor", "--profile", "production", "ansible", "roles"])
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert "Profile 'production' was required, and it passed" in result.stdout + result.stderr


@pytest.mark.parametrize("inventory", INVENTORIES)
def test_site_playbook_syntax(inventory: str) -> None:
    result = _run([str(deploy_bin("ansible-playbook")), "--syntax-check", "-i",
                   f"ansible/inventories/{inventory}/hosts.yml", "ansible/site.yml"])
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("role", ROLES)
def test_role_scenario_syntax(role: str) -> None:
    result = _run([str(deploy_bin("ansible-playbook")), "--syntax-check", "-i",
                   f"roles/{role}/tests/inventory", f"roles/{role}/tests/test.yml"],
                  ANSIBLE_ROLES_PATH=str(REPO / "roles"))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("role", ROLES)
def test_role_layout(role: str) -> None:
    base = REPO / "roles" / role
    for part in ("defaults/main.yml", "tasks/main.yml", "handlers/main.yml", "meta/main.yml",
                 "README.md", "tests/inventory", "tests/test.yml"):
        assert (base / part).is_file(), part
    assert (base / "templates").is_dir()
    meta = yaml.safe_load((base / "meta/main.yml").read_text())
    platforms = {p["name"] for p in meta["galaxy_info"]["platforms"]}
    assert platforms == {"Ubuntu", "Debian"}


@pytest.mark.parametrize("role", ROLES)
def test_every_default_is_documented(role: str) -> None:
    """Each variable in defaults/main.yml has a comment right above it."""
    lines = (REPO / "roles" / role / "defaults/main.yml").read_text().splitlines()
    undocumented = []
    for number, line in enumerate(lines):
        match = re.match(r"^([a-z][a-z0-9_]*):", line)
        if match and not lines[number - 1].lstrip().startswith("#"):
            undocumented.append(match.group(1))
        if match:
            assert match.group(1).startswith(f"{role}_"), f"{match.group(1)} lacks the role prefix"
    assert undocumented == []


def test_distribution_variables_cover_both_families() -> None:
    for name in ("Debian", "Ubuntu"):
        values = yaml.safe_load((REPO / f"roles/common/vars/{name}.yml").read_text())
        assert values["common_unattended_upgrades_origins"]


def test_cluster_inventory_wires_every_app_host_into_nginx() -> None:
    result = _run([str(deploy_bin("ansible")), "-i",
                   "ansible/inventories/cluster-example/hosts.yml", "--playbook-dir", "ansible",
                   "lb1", "-c", "local", "-m", "ansible.builtin.debug",
                   "-a", "var=nginx_upstream_servers", "-o"])
    assert result.returncode == 0, result.stdout + result.stderr
    payload = json.loads(result.stdout.split("=>", 1)[1])
    assert payload["nginx_upstream_servers"] == ["10.0.0.21:8000", "10.0.0.22:8000",
                                                 "10.0.0.23:8000"]


def test_single_vps_proxies_to_loopback() -> None:
    result = _run([str(deploy_bin("ansible")), "-i", "ansible/inventories/example/hosts.yml",
                   "--playbook-dir", "ansible", "vps1", "-c", "local", "-m",
                   "ansible.builtin.debug", "-a", "var=nginx_upstream_servers", "-o"])
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout.split("=>", 1)[1])["nginx_upstream_servers"] == [
        "127.0.0.1:8000"]


def test_vault_examples_hold_placeholders_only() -> None:
    examples = list((REPO / "ansible/inventories").glob("*/group_vars/all/vault.yml.example"))
    assert examples
    for example in examples:
        values = yaml.safe_load(example.read_text())
        assert values and all(str(v).startswith("CHANGE_ME") for v in values.values()), example
    for vault in (REPO / "ansible").rglob("vault.yml"):
        assert vault.read_text().startswith("$ANSIBLE_VAULT"), f"{vault} is not encrypted"


def test_vagrantfile_validates() -> None:
    require_tool("vagrant", "scripts/setup-deploy-tests installs it")
    result = subprocess.run(["vagrant", "validate", "--ignore-provider"], cwd=REPO,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "validated successfully" in result.stdout
