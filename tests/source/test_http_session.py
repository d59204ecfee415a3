"""The HTTP client's session reads the proxy environment once per origin, with requests' answers."""

from __future__ import annotations

import pytest
import requests

from auditor.http_client import EnvironmentOnce

URLS = ("https://rekor.example/api/v1/log", "https://rekor.example/api/v1/log/entries/retrieve",
        "http://127.0.0.1:3000/api/v1/log", "https://internal.corp/files/sha2-256:ab")


@pytest.fixture
def proxied(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("http_proxy", "https_proxy", "no_proxy", "all_proxy", "HTTP_PROXY",
                 "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.corp:3128")
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.corp:3129")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,.corp")


@pytest.mark.usefixtures("proxied")
@pytest.mark.parametrize("url", URLS)
@pytest.mark.parametrize("stream", [True, None])
def test_settings_are_requests_own(url: str, stream: bool | None) -> None:
    plain, once = requests.Session(), EnvironmentOnce()
    expected = plain.merge_environment_settings(url, {}, stream, None, None)
    assert once.merge_environment_settings(url, {}, stream, None, None) == expected
    assert once.merge_environment_settings(url, {}, stream, None, None) == expected


@pytest.mark.usefixtures("proxied")
def test_the_proxy_is_chosen_per_host() -> None:
    once = EnvironmentOnce()
    proxies = once.merge_environment_settings(URLS[0], {}, True, None, None)["proxies"]
    assert proxies["https"] == "http://proxy.corp:3128"
    assert proxies["http"] == "http://proxy.corp:3129"
    # no_proxy hosts go direct: requests gives them no proxy at all.
    assert once.merge_environment_settings(URLS[2], {}, True, None, None)["proxies"] == {}
    assert once.merge_environment_settings(URLS[3], {}, True, None, None)["proxies"] == {}


@pytest.mark.usefixtures("proxied")
def test_the_environment_is_read_once_per_origin(monkeypatch: pytest.MonkeyPatch) -> None:
    once = EnvironmentOnce()
    first = once.merge_environment_settings(URLS[0], {}, True, None, None)
    monkeypatch.setenv("HTTPS_PROXY", "http://elsewhere:1")
    assert once.merge_environment_settings(URLS[1], {}, True, None, None) == first
    other = once.merge_environment_settings("https://other.example/", {}, True, None, None)
    assert other["proxies"]["https"] == "http://elsewhere:1"


@pytest.mark.usefixtures("proxied")
def test_explicit_proxies_and_a_changed_caller_copy() -> None:
    once = EnvironmentOnce()
    explicit = once.merge_environment_settings(URLS[0], {"https": "http://mine:8"}, True, None,
                                               None)
    assert explicit["proxies"]["https"] == "http://mine:8"
    given = once.merge_environment_settings(URLS[0], {}, True, None, None)
    given["proxies"].clear()
    given["verify"] = False
    again = once.merge_environment_settings(URLS[0], {}, True, None, None)
    assert again["proxies"]["https"] == "http://proxy.corp:3128" and again["verify"] is True
