"""The [notify] table: strict parsing, secrets from the environment, flags over the file."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from auditor.errors import ConfigError
from auditor.findings import Severity
from auditor.notify.email import EmailChannel
from auditor.notify.github import GitHubChannel
from auditor.notify.settings import (
    NotifySettings,
    WebhookSettings,
    apply_flags,
    build_channels,
    parse_notify,
)
from auditor.notify.transport import Timeouts
from auditor.notify.webhook import WebhookChannel
from auditor.settings import Flags, resolve
from tests.notify.conftest import readme_section
from tests.notify.servers import Certificates

BASE = Path("/etc/auditor")
ENVIRON = {"SLACK_WEBHOOK_URL": "https://hooks.slack.example/services/T/B/X",
           "AUDITOR_SMTP_USERNAME": "auditor", "AUDITOR_SMTP_PASSWORD": "pw",
           "GITHUB_TOKEN": "ghp_x"}


def parse(text: str) -> NotifySettings:
    return parse_notify(tomllib.loads(text).get("notify", {}), "auditor.toml", BASE)


def readme_example() -> str:
    [block] = re.findall(r"```toml\n(.*?)```", readme_section(), re.S)
    return str(block)


def test_the_documented_example_parses_into_three_channels() -> None:
    settings = parse(readme_example())
    assert settings.channels == ("webhook", "email", "github")
    assert (settings.min_severity, settings.resolved) == (Severity.HIGH, True)
    assert settings.webhook == WebhookSettings(url_env="SLACK_WEBHOOK_URL")
    assert settings.email is not None and settings.email.recipients == ("sre@example.org",)
    assert settings.email.ca_file is None and settings.email.starttls
    assert settings.github is not None and settings.github.labels == ("auditor", "security")
    channels = build_channels(settings, ENVIRON)
    assert [type(c) for c in channels] == [WebhookChannel, EmailChannel, GitHubChannel]
    assert [c.name for c in channels] == ["webhook", "email", "github"]
    for channel in channels:
        channel.close()


def test_defaults_without_a_table() -> None:
    settings = parse_notify({}, "auditor.toml", BASE)
    assert settings == NotifySettings(channels=(), min_severity=Severity.HIGH, resolved=False)
    assert build_channels(settings, {}) == []


def test_channels_selects_among_the_configured_tables_in_its_order() -> None:
    settings = parse("""
        [notify]
        channels = ["github"]
        [notify.webhook]
        url = "https://hooks.example/x"
        [notify.github]
        repository = "example/boot-audit"
        connect_timeout = 2
        deadline = 20
        """)
    assert settings.channels == ("github",)
    assert settings.github is not None
    assert settings.github.timeouts == Timeouts(connect=2.0, read=10.0, total=20.0)


@pytest.mark.parametrize(("text", "message"), [
    ('[notify]\nmin_severty = "low"', "unknown key 'min_severty'; did you mean 'min_severity'?"),
    ('[notify.webhok]\nurl = "https://h.example"', "unknown key 'webhok'; did you mean 'webhook'?"),
    ('[notify.github]\nrepository = "a/b"\nlables = ["x"]', "did you mean 'labels'?"),
    ('[notify.email]\nhost = "h"\nfrom = "a@b"\nto = ["c@d"]\nstarttls = true\nusername = "u"',
     "did you mean 'username_env'?"),
    ('[notify]\nchannels = ["slack"]', "'slack' is not a channel; valid: webhook, email, github"),
    ('[notify]\nchannels = ["github"]', "names 'github' but there is no [notify.github] table"),
    ('[notify]\nmin_severity = "urgent"', "'urgent' is not a severity (one of info, low"),
    ('[notify]\nresolved = "yes"', "notify.resolved must be true or false"),
    ('[notify.webhook]\nurl = "https://h.example"\nurl_env = "X"', "exactly one of url and"),
    ('[notify.webhook]\nurl = "ftp://h.example/x"', "notify.webhook.url must be an http(s) URL"),
    ('[notify.webhook]\nurl_env = "not a name"', "must name an environment variable"),
    ('[notify.webhook]\nurl_env = "X"\nread_timeout = 0', "read_timeout must be a number"),
    ('[notify.github]\nrepository = "no-slash"', "repository must be OWNER/NAME"),
    ('[notify.github]\nrepository = "a/b"\nlabels = [""]', "a label is 1 to 50 characters"),
    ('[notify.email]\nhost = "h"\nto = ["c@d"]', "from is required"),
    ('[notify.email]\nhost = "h"\nfrom = "a@b"\nto = []', "at least one recipient"),
    ('[notify.email]\nhost = "h"\nfrom = "a@b\\r\\nBcc: e@f"\nto = ["c@d"]',
     "is not an e-mail address"),
    ('[notify.email]\nhost = "h"\nfrom = "a@b"\nto = ["c@d"]\nport = 70000', "a port number"),
    ('[notify.email]\nhost = "h"\nfrom = "a@b"\nto = ["c@d"]\nusername_env = "U"',
     "username_env and password_env go together"),
    ('[notify.email]\nhost = "h"\nfrom = "a@b"\nto = ["c@d"]\nstarttls = false\n'
     'username_env = "U"\npassword_env = "P"', "would cross the network in clear text"),
])
def test_a_bad_table_is_a_config_error_that_says_what_to_fix(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse(text)
    assert message in raised.value.diagnostics()
    assert raised.value.diagnostics().startswith("auditor.toml: notify")


def test_a_relative_ca_file_is_relative_to_the_config_file() -> None:
    settings = parse('[notify.email]\nhost = "h"\nfrom = "a@b"\nto = ["c@d"]\n'
                     'ca_file = "certs/ca.pem"')
    assert settings.email is not None and settings.email.ca_file == BASE / "certs" / "ca.pem"


@pytest.mark.parametrize("missing", ["GITHUB_TOKEN", "AUDITOR_SMTP_PASSWORD",
                                     "SLACK_WEBHOOK_URL"])
def test_a_secret_missing_from_the_environment_is_a_config_error(missing: str) -> None:
    environ = {k: v for k, v in ENVIRON.items() if k != missing}
    with pytest.raises(ConfigError, match=f"names {missing}, which is not set"):
        build_channels(parse(readme_example()), environ)


def test_flags_override_the_file() -> None:
    settings = apply_flags(parse(readme_example()), webhook_url="https://hooks.example/flag",
                           min_severity="critical")
    assert settings.channels == ("webhook", "email", "github")
    assert settings.webhook == WebhookSettings(url="https://hooks.example/flag")
    assert settings.min_severity is Severity.CRITICAL
    only_flag = apply_flags(NotifySettings(), webhook_url="http://127.0.0.1:9/hook")
    assert only_flag.channels == ("webhook",)
    [channel] = build_channels(only_flag, {})
    assert isinstance(channel, WebhookChannel) and channel.url == "http://127.0.0.1:9/hook"
    channel.close()
    with pytest.raises(ConfigError, match="--notify-min-severity: 'loud' is not a severity"):
        apply_flags(NotifySettings(), min_severity="loud")
    with pytest.raises(ConfigError, match="--notify-webhook must be an http"):
        apply_flags(NotifySettings(), webhook_url="hooks.example")


# -- through the one settings path: config file, environment, flags ------------------------------


def test_flag_beats_environment_beats_the_config_file(tmp_path: Path) -> None:
    config = tmp_path / "auditor.toml"
    config.write_text('[notify]\nmin_severity = "medium"\n'
                      '[notify.webhook]\nurl = "https://hooks.example/file"\n'
                      "requests_per_second = 5\n"
                      '[metrics]\nfile = "metrics/auditor.prom"\n')
    from_file = resolve(Flags(config=config), {})
    assert from_file.notify is not None and from_file.notify.min_severity is Severity.MEDIUM
    assert from_file.notify.webhook == WebhookSettings(url="https://hooks.example/file",
                                                       requests_per_second=5.0)
    assert from_file.metrics_file == tmp_path / "metrics" / "auditor.prom"
    environ = {"AUDITOR_NOTIFY_WEBHOOK": "https://hooks.example/env",
               "AUDITOR_NOTIFY_MIN_SEVERITY": "CRITICAL",
               "AUDITOR_METRICS_FILE": "/var/lib/node_exporter/auditor.prom"}
    from_env = resolve(Flags(config=config), environ)
    assert from_env.notify is not None and from_env.notify.min_severity is Severity.CRITICAL
    # The URL changes; the file's rate for that webhook stays.
    assert from_env.notify.webhook == WebhookSettings(url="https://hooks.example/env",
                                                      requests_per_second=5.0)
    assert from_env.metrics_file == Path("/var/lib/node_exporter/auditor.prom")
    from_flags = resolve(Flags(config=config, notify_webhook="https://hooks.example/flag",
                               notify_min_severity="low", metrics_file=Path("run.prom")),
                         environ)
    assert from_flags.notify is not None and from_flags.notify.min_severity is Severity.LOW
    assert from_flags.notify.webhook is not None
    assert from_flags.notify.webhook.url == "https://hooks.example/flag"
    assert from_flags.metrics_file == Path("run.prom")


def test_without_any_notify_setting_there_are_no_channels(tmp_path: Path) -> None:
    config = tmp_path / "auditor.toml"
    config.write_text('[run]\nfail_on = "high"\n')
    settings = resolve(Flags(config=config), {})
    assert settings.notify is None and settings.metrics_file is None


@pytest.mark.parametrize(("text", "environ", "message"), [
    ('[metrics]\nfle = "a.prom"\n', {}, "unknown key 'fle' in [metrics]; did you mean 'file'?"),
    ("notify = 3\n", {}, "notify must be a table ([notify])"),
    ('[notify]\nmin_severty = "low"\n', {}, "auditor.toml: notify: unknown key 'min_severty'"),
    ("", {"AUDITOR_NOTIFY_MIN_SEVERITY": "loud"},
     "environment AUDITOR_NOTIFY_MIN_SEVERITY: 'loud' is not a severity"),
    ("", {"AUDITOR_NOTIFY_WEBHOOK": "hooks.example/x"},
     "environment AUDITOR_NOTIFY_WEBHOOK must be an http(s) URL"),
])
def test_a_bad_setting_says_where_it_came_from(tmp_path: Path, text: str,
                                               environ: dict[str, str], message: str) -> None:
    config = tmp_path / "auditor.toml"
    config.write_text(text)
    with pytest.raises(ConfigError) as raised:
        resolve(Flags(config=config), environ)
    assert message in raised.value.diagnostics()


def test_an_email_ca_file_that_cannot_be_read_stops_the_run_before_it_starts(
        tmp_path: Path, certificates: Certificates) -> None:
    # Found only at STARTTLS before: every alert of every run failed on it.
    table = ('[notify.email]\nhost = "smtp.example.org"\nfrom = "a@example.org"\n'
             'to = ["b@example.org"]\nca_file = "{}"\n')
    (tmp_path / "garbage.pem").write_text("not a certificate\n")
    for name, reason in (("absent.pem", "No such file or directory"),
                         ("garbage.pem", "")):
        settings = parse_notify(tomllib.loads(table.format(name))["notify"], "auditor.toml",
                                tmp_path)
        with pytest.raises(ConfigError, match=f"notify.email.ca_file '{tmp_path / name}': not "
                           f"readable as CA certificates \\(.*{reason}"):
            build_channels(settings, {})
    good = parse_notify(tomllib.loads(table.format(certificates.ca_file))["notify"],
                        "auditor.toml", tmp_path)
    [channel] = build_channels(good, {})
    channel.close()
