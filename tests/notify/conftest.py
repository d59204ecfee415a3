"""Servers on 127.0.0.1 that the channel tests talk to; each is stopped after its test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.notify.servers import Certificates, FakeGitHub, LocalServer, Reply, make_certificates

README = Path(__file__).parents[2] / "README.md"
GITHUB_TOKEN = "ghp_test_token_never_printed"
#: Channels' own rate limits (1 and 0.5 requests a second) would only slow the tests down.
RATE = 1000.0


def readme_section(title: str = "Alerts and metrics") -> str:
    """One `## ` section of the README, up to the next one."""
    text = README.read_text()
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end] if end != -1 else text[start:]


@pytest.fixture
def receiver() -> Iterator[LocalServer]:
    """A webhook receiver answering 200 "ok" unless a test changes its `route`."""
    with LocalServer(lambda request: Reply()) as server:
        yield server
    assert not server.errors, server.errors[0]


@pytest.fixture
def github() -> Iterator[tuple[FakeGitHub, LocalServer]]:
    fake = FakeGitHub(GITHUB_TOKEN)
    with LocalServer(fake.route) as server:
        yield fake, server
    assert not server.errors, server.errors[0]


@pytest.fixture(scope="session")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return make_certificates(Path(tmp_path_factory.mktemp("tls")))
