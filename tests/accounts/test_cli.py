"""`flask roles …` through the real CLI: the role prompts users can choose."""

from __future__ import annotations


def test_roles_commands(app, client, alice, tmp_path):
    runner = app.test_cli_runner()
    added = runner.invoke(args=["roles", "add", "Инженер", "--content", "Ты инженер."])
    assert added.exit_code == 0, added.output
    role_file = tmp_path / "role.txt"
    role_file.write_text("Ты сметчик.", encoding="utf-8")
    assert runner.invoke(args=["roles", "add", "Сметчик", "--file", str(role_file)]).exit_code == 0
    assert runner.invoke(args=["roles", "add", "Пустая"]).exit_code != 0
    roles = client.get("/prompts/roles", headers=alice.headers).json
    assert [r["content"] for r in roles] == ["Ты инженер.", "Ты сметчик."]
    assert runner.invoke(args=["roles", "disable", str(roles[0]["id"])]).exit_code == 0
    assert [r["name"] for r in client.get("/prompts/roles", headers=alice.headers).json] == [
        "Сметчик"
    ]
    assert "disabled" in runner.invoke(args=["roles", "list", "--all"]).output
    assert runner.invoke(args=["roles", "disable", "999"]).exit_code != 0
