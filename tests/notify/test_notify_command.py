"""`audit notify test`: one test message per configured channel; the exit code says if all
took it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli_runner import RunAudit
from tests.notify.conftest import GITHUB_TOKEN, RATE
from tests.notify.servers import Certificates, FakeGitHub, LocalServer, Reply, smtp_server


def test_every_configured_channel_gets_a_test_message(
        audit: RunAudit, receiver: LocalServer, github: tuple[FakeGitHub, LocalServer],
        certificates: Certificates, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake, hub = github
    monkeypatch.setenv("GITHUB_TOKEN", GITHUB_TOKEN)
    monkeypatch.setenv("HOOK_URL", receiver.url + "/hook")
    with smtp_server(tls=certificates) as smtp:
        monkeypatch.setenv("SMTP_USER", smtp.username)
        monkeypatch.setenv("SMTP_PASSWORD", smtp.password)
        config = tmp_path / "auditor.toml"
        config.write_text(f"""
[notify.webhook]
url_env = "HOOK_URL"
requests_per_second = {RATE}
[notify.email]
host = "127.0.0.1"
port = {smtp.port}
from = "auditor@example.org"
to = ["sre@example.org"]
username_env = "SMTP_USER"
password_env = "SMTP_PASSWORD"
ca_file = "{certificates.ca_file}"
[notify.github]
repository = "example/boot-audit"
api_url = "{hub.url}"
requests_per_second = {RATE}
""")
        result = audit("notify", "test", "--config", str(config), "--json")
        assert result.exit_code == 0, result.stderr
        assert len(smtp.sink.envelopes) == 1
    document = json.loads(result.stdout)
    assert [(c["channel"], c["ok"]) for c in document["channels"]] == [
        ("webhook", True), ("email", True), ("github", True)]
    [request] = receiver.requests
    assert request.path == "/hook" and request.json()["alert"]["kind"] == "test"
    assert fake.issues["example/boot-audit"] == []  # GitHub: checked, nothing opened
    assert "github: ok (repository reachable, issues enabled; no issue opened)" in result.stderr


def test_a_channel_that_fails_the_test_exits_3(audit: RunAudit, receiver: LocalServer) -> None:
    receiver.route = lambda request: Reply(404, b"no_service")
    result = audit("notify", "test", "--notify-webhook", receiver.url)
    assert result.exit_code == 3
    assert f"webhook: FAILED ({receiver.url}: HTTP 404: no_service)" in result.stderr


def test_nothing_configured_is_a_usage_error(audit: RunAudit, tmp_path: Path) -> None:
    result = audit("notify", "test")
    assert result.exit_code == 2 and "no alert channel is configured" in result.stderr
    config = tmp_path / "auditor.toml"
    config.write_text('[notify.webhook]\nurl_env = "UNSET_HOOK_URL"\n')
    result = audit("notify", "test", "--config", str(config))
    assert result.exit_code == 2
    assert "names UNSET_HOOK_URL, which is not set in the environment" in result.stderr
