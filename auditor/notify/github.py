"""GitHub channel: one issue per new finding, found again by its fingerprint.

Before opening an issue the channel searches the repository's open issues for the finding's
fingerprint (`GET /search/issues`), and reports an issue it finds as already present: a rerun
after a lost ledger, or a second host, never opens a duplicate. A search hit counts only if its
body really carries the fingerprint line (search matches loosely) and its author could write to
the repository (`author_association` OWNER, MEMBER or COLLABORATOR, or a GitHub App's bot, which
acts only where it is installed): anyone may open an issue in a public repository, and whoever
made a finding can compute its fingerprint, so an issue planted with the line (and closed after
the run) would otherwise pass for the auditor's own and silence the alert. The search reads one
page, oldest first, where the auditor's own issue precedes copies planted after it. A
"resolved" alert closes that issue and comments on it.

The issue body is GitHub Markdown built with the report's escaping (`auditor.report.markdown`):
a value from a log stays text, never a link, mention, image or HTML. The title goes through the
same one-line treatment as an e-mail Subject.

REST API version 2022-11-28; the token (a fine-grained token with Issues read/write on the one
repository is enough) comes from the environment. Reads and closing an issue are idempotent and
retried; opening an issue or commenting is not (`auditor.notify.transport`): a lost answer
leaves the issue to the next run's search. Half a request a second by default: GitHub allows 30
searches a minute ("Rate limits for the REST API") and asks for a second between writes ("Best
practices for using the REST API").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import requests

from auditor.errors import InputError
from auditor.http_client import Answer
from auditor.notify.interface import (
    Alert,
    AlertKind,
    Channel,
    Delivery,
    DeliveryStatus,
    one_line,
)
from auditor.notify.transport import (
    Timeouts,
    TransportError,
    answer_excerpt,
    answer_json,
    channel_client,
    exchange,
    host_of,
)
from auditor.report.markdown import code, text

DEFAULT_API_URL = "https://api.github.com"
#: GitHub refuses longer issue titles (422).
TITLE_CHARS = 256
#: Search allows 30 requests a minute; one alert costs a search and a write.
REQUESTS_PER_SECOND = 0.5
#: Methods whose repetition does no harm here (PATCH only ever closes an issue).
_IDEMPOTENT = frozenset({"GET", "PATCH"})
_FINGERPRINT = re.compile(r"[0-9a-f]{8,64}")
#: Authors who can write to the repository ("author_association", GitHub REST API).
_WRITERS = frozenset({"OWNER", "MEMBER", "COLLABORATOR"})


@dataclass(frozen=True)
class Issue:
    number: int
    html_url: str


class GitHubError(Exception):
    """A call that did not do what it should; the message is one safe line."""


def fingerprint_line(fingerprint: str) -> str:
    """The body line that identifies the finding; searched for, then checked exactly."""
    return f"auditor-fingerprint: `{fingerprint}`"


def issue_title(alert: Alert) -> str:
    return one_line(f"[auditor] {alert.headline}", TITLE_CHARS)


def issue_body(alert: Alert) -> str:
    lines = [
        f"**{alert.severity.value.upper()}** {code(alert.rule, in_table=False)}: "
        f"{text(alert.title)}",
        "",
        f"- Component: {code(alert.component, in_table=False)}",
        f"- Release: {code(alert.release, in_table=False)}",
        f"- Found by the run at {text(alert.run_time.isoformat())}",
        f"- Report: {code(alert.report, in_table=False)}",
        "",
        text(alert.detail),
    ]
    if alert.evidence:
        lines += ["", "| Evidence | Value |", "|---|---|"]
        lines += [f"| {code(key)} | {code(value)} |" for key, value in alert.evidence]
    if alert.explanation:
        lines += ["", text(alert.explanation)]
    lines += ["", fingerprint_line(alert.fingerprint), ""]
    return "\n".join(lines)


def resolved_comment(alert: Alert) -> str:
    return (f"Resolved: this finding no longer appears in the run at "
            f"{text(alert.run_time.isoformat())}. Report: {code(alert.report, in_table=False)}\n")


class GitHubChannel(Channel):
    name = "github"

    def __init__(self, repository: str, token: str, *, api_url: str = DEFAULT_API_URL,
                 labels: tuple[str, ...] = (), timeouts: Timeouts | None = None,
                 requests_per_second: float = REQUESTS_PER_SECOND,
                 session: requests.Session | None = None) -> None:
        self.repository = repository
        self.api_url = api_url.rstrip("/")
        self.labels = labels
        self.http = channel_client("GitHub", timeouts or Timeouts(), requests_per_second,
                                   session)
        self._token = token

    def close(self) -> None:
        self.http.close()

    def send(self, alert: Alert) -> Delivery:
        try:
            existing = self.find_open_issue(alert.fingerprint)
            if alert.kind is AlertKind.RESOLVED:
                return self._resolve(alert, existing)
            if existing is not None:
                return Delivery(self.name, alert.fingerprint, alert.kind,
                                DeliveryStatus.ALREADY_PRESENT, reference=existing.html_url)
            created = _issue(self._call("POST", f"/repos/{self.repository}/issues", 201, {
                "title": issue_title(alert), "body": issue_body(alert),
                "labels": list(self.labels)}), "the created issue")
            return Delivery.sent(self.name, alert, reference=created.html_url)
        except (GitHubError, InputError) as error:
            return Delivery.failed(self.name, alert, str(error))

    def send_test(self, run_time: datetime) -> Delivery:
        """Opens nothing: proves the token reaches the repository and its issues are on."""
        alert = Alert.test(run_time)
        try:
            repo = self._call("GET", f"/repos/{self.repository}", 200)
        except (GitHubError, InputError) as error:
            return Delivery.failed(self.name, alert, str(error))
        if not isinstance(repo, dict) or repo.get("has_issues") is not True:
            return Delivery.failed(self.name, alert, f"{self.repository}: issues are disabled")
        url = repo.get("html_url")
        return Delivery(self.name, alert.fingerprint, alert.kind, DeliveryStatus.SENT,
                        reason="repository reachable, issues enabled; no issue opened",
                        reference=url if isinstance(url, str) else None)

    def find_open_issue(self, fingerprint: str) -> Issue | None:
        """The open issue whose body carries `fingerprint`, if the search finds one."""
        if not _FINGERPRINT.fullmatch(fingerprint):
            raise GitHubError(f"not a fingerprint: {one_line(fingerprint, 80)!r}")
        query = f'repo:{self.repository} is:issue is:open in:body "{fingerprint}"'
        # advanced_search: the syntax GitHub moved the issue search to (changelog 2025-03-06).
        # One page, oldest first: the auditor's own issue precedes copies of its line planted
        # after it (by best match, hits alike come in any order, and 100 copies could push it
        # off the page: a duplicate on every run).
        found = self._call("GET", "/search/issues", 200, params={
            "q": query, "advanced_search": "true", "per_page": "100", "sort": "created",
            "order": "asc"})
        items = found.get("items") if isinstance(found, dict) else None
        if not isinstance(items, list):
            raise InputError("GitHub search answer: no items list")
        line = fingerprint_line(fingerprint)
        for item in items:
            issue = _issue(item, "GitHub search answer item")
            body = item.get("body")
            if (item.get("state") == "open" and "pull_request" not in item
                    and isinstance(body, str) and line in body and _by_a_writer(item)):
                return issue
        if found.get("incomplete_results") is True:
            # GitHub stopped searching at its time limit (200, `incomplete_results`): the issue
            # may be in what it skipped, and opening (or not closing) one on that is a guess.
            raise GitHubError(f"{self.repository}: the issue search is incomplete (GitHub "
                              "timed out); tried again by the next run")
        return None

    def _resolve(self, alert: Alert, existing: Issue | None) -> Delivery:
        if existing is None:
            return Delivery(self.name, alert.fingerprint, alert.kind,
                            DeliveryStatus.ALREADY_PRESENT,
                            reason="no open issue carries this fingerprint")
        path = f"/repos/{self.repository}/issues/{existing.number}"
        # Closed first: a close that fails is tried again by the next run, which would post
        # the comment again; a comment that fails after the close is a note, not a failure.
        self._call("PATCH", path, 200, {"state": "closed", "state_reason": "completed"})
        try:
            self._call("POST", f"{path}/comments", 201, {"body": resolved_comment(alert)})
        except (GitHubError, InputError) as error:
            return Delivery(self.name, alert.fingerprint, alert.kind, DeliveryStatus.SENT,
                            reason=f"closed without the comment saying why: {error}",
                            reference=existing.html_url)
        return Delivery.sent(self.name, alert, reference=existing.html_url)

    def _call(self, method: str, path: str, expected: int, body: object = None,
              params: dict[str, str] | None = None) -> Any:
        url = self.api_url + path
        try:
            answer = exchange(self.http, method, url, idempotent=method in _IDEMPOTENT,
                              json_body=body, params=params, headers={
                                  "Accept": "application/vnd.github+json",
                                  "Authorization": f"Bearer {self._token}",
                                  "X-GitHub-Api-Version": "2022-11-28"})
        except TransportError as error:
            raise GitHubError(f"{method} {host_of(url)}{path}: {error}") from None
        if answer.status != expected:
            raise GitHubError(f"{method} {host_of(url)}{path}: {_refusal(answer)}")
        return answer_json(answer) if answer.content else None


def _issue(item: Any, where: str) -> Issue:
    if not isinstance(item, dict):
        raise InputError(f"{where}: not an object")
    number, url = item.get("number"), item.get("html_url")
    if isinstance(number, bool) or not isinstance(number, int) or number < 1:
        raise InputError(f"{where}: no issue number")
    if not isinstance(url, str) or not url.startswith(("https://", "http://")):
        raise InputError(f"{where}: no html_url")
    return Issue(number, one_line(url, 300))


def _by_a_writer(item: dict[str, Any]) -> bool:
    """The issue's author can write to the repository: not just anyone who may open one."""
    user = item.get("user")
    return item.get("author_association") in _WRITERS or (
        isinstance(user, dict) and user.get("type") == "Bot")


def _refusal(answer: Answer) -> str:
    """Why GitHub said no: its rate-limit headers say more than the status alone."""
    headers = answer.headers
    if answer.status in (403, 429) and (headers.get("x-ratelimit-remaining") == "0"
                                        or "retry-after" in headers):
        wait = headers.get("retry-after") or f"reset at {headers.get('x-ratelimit-reset', '?')}"
        return f"HTTP {answer.status}: rate limited ({one_line(wait, 40)})"
    return f"HTTP {answer.status}: {answer_excerpt(answer)}"
