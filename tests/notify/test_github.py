"""GitHub channel against a local endpoint shaped like GitHub's REST API."""

from __future__ import annotations

from dataclasses import replace

import cmarkgfm  # type: ignore[import-untyped]
import pytest
from cmarkgfm.cmark import Options  # type: ignore[import-untyped]

from auditor.notify.github import TITLE_CHARS, GitHubChannel, fingerprint_line, issue_body
from auditor.notify.interface import Alert, DeliveryStatus
from auditor.notify.transport import MAX_ANSWER_BYTES, Timeouts
from auditor.report.text import visible
from tests.notify.conftest import GITHUB_TOKEN, RATE
from tests.notify.findings import REPORT, RUN_TIME, finding
from tests.notify.servers import BODY_CHARS, FakeGitHub, LocalServer, Reply, Request, unused_port
from tests.report.htmltree import inspect
from tests.report.reports import AUTOLINK, HOSTILE, LONG, MD_LINK, MENTION, NEWLINES

REPO = "example/boot-audit"
FAST = Timeouts(connect=2, read=2, total=4)
Fake = tuple[FakeGitHub, LocalServer]


def channel(server: LocalServer, token: str = GITHUB_TOKEN) -> GitHubChannel:
    return GitHubChannel(REPO, token, api_url=server.url, labels=("auditor", "security"),
                         timeouts=FAST, requests_per_second=RATE)


def kernel_alert() -> Alert:
    return Alert.from_finding(finding("kernel"), report=REPORT, run_time=RUN_TIME)


def test_a_new_finding_opens_one_labelled_issue_carrying_its_fingerprint(github: Fake) -> None:
    fake, server = github
    alert = kernel_alert()
    with channel(server) as hub:
        delivery = hub.send(alert)
    assert delivery.status is DeliveryStatus.SENT
    [issue] = fake.open_issues()
    assert delivery.reference == issue["html_url"]
    assert [label["name"] for label in issue["labels"]] == ["auditor", "security"]
    assert fingerprint_line(alert.fingerprint) in issue["body"]
    assert issue["title"] == ("[auditor] [HIGH] UNEXPECTED_ENDORSEMENT: Component key signed "
                              "something unexpected (component kernel)")
    create = next(r for r in server.requests if r.method == "POST")
    assert create.headers["accept"] == "application/vnd.github+json"
    assert create.headers["x-github-api-version"] == "2022-11-28"
    search = server.requests[0]
    assert search.path == "/search/issues"
    assert search.query["q"] == [f'repo:{REPO} is:issue is:open in:body "{alert.fingerprint}"']


def test_a_rerun_finds_the_existing_issue_instead_of_opening_another(github: Fake) -> None:
    fake, server = github
    alert = kernel_alert()
    with channel(server) as first:
        opened = first.send(alert)
    with channel(server) as rerun:  # a new process: nothing remembered but GitHub's issues
        again = rerun.send(replace(alert, detail="worded differently this time"))
    assert again.status is DeliveryStatus.ALREADY_PRESENT and again.delivered
    assert again.reference == opened.reference
    assert len(fake.open_issues()) == 1


def test_only_an_open_issue_carrying_the_fingerprint_line_counts(github: Fake) -> None:
    fake, server = github
    alert = kernel_alert()
    line = fingerprint_line(alert.fingerprint)
    fake.add_issue(REPO, "closed one", line, state="closed")
    fake.add_issue(REPO, "a pull request", line, pull_request=True)
    fake.add_issue(REPO, "a human quoting it", f"is {alert.fingerprint} related?")
    with channel(server) as hub:
        delivery = hub.send(alert)
    assert delivery.status is DeliveryStatus.SENT
    assert fake.open_issues()[-1]["html_url"] == delivery.reference
    assert len(fake.open_issues()) == 2  # the human's issue and the new one


@pytest.mark.parametrize("association", ["NONE", "CONTRIBUTOR", "FIRST_TIME_CONTRIBUTOR"])
def test_an_issue_anyone_could_open_does_not_silence_the_alert(github: Fake,
                                                               association: str) -> None:
    # Anyone may open an issue in a public repository, and a fingerprint is computable by
    # whoever made the finding (rule, component, the entry's UUID and statement hash): an issue
    # carrying the line, opened before the run and closed after it, must not pass for the
    # auditor's own, or the alert would never be sent.
    fake, server = github
    alert = kernel_alert()
    planted = fake.add_issue(REPO, "routine kernel build, nothing to do",
                             fingerprint_line(alert.fingerprint), author="mallory",
                             author_association=association)
    with channel(server) as hub:
        delivery = hub.send(alert)
        assert delivery.status is DeliveryStatus.SENT
        assert delivery.reference != planted["html_url"]
        done = hub.send(alert.resolved(report=REPORT, run_time=RUN_TIME))
    assert done.status is DeliveryStatus.SENT and done.reference == delivery.reference
    assert planted["state"] == "open" and (REPO, planted["number"]) not in fake.comments
    assert [i["author_association"] for i in fake.issues[REPO]] == [association,
                                                                    "COLLABORATOR"]


def test_issues_planted_after_the_auditors_own_cannot_push_it_off_the_search_page(
        github: Fake) -> None:
    # Search answers one page of 100, best match first (for hits alike, any order): 150
    # planted copies of the line, newer than the auditor's issue, pushed it off the page and
    # every rerun opened a duplicate. Oldest first, the auditor's own comes first.
    fake, server = github
    alert = kernel_alert()
    with channel(server) as hub:
        opened = hub.send(alert)
    for n in range(150):
        fake.add_issue(REPO, f"copy {n}", fingerprint_line(alert.fingerprint),
                       author="mallory", author_association="NONE")
    with channel(server) as rerun:
        again = rerun.send(alert)
    assert again.status is DeliveryStatus.ALREADY_PRESENT, again.reason
    assert again.reference == opened.reference


def test_an_issue_a_github_app_opened_counts_as_present(github: Fake) -> None:
    # An app's bot (the auditor run from Actions with its GITHUB_TOKEN) acts only where the
    # app is installed; GitHub gives it no write association.
    fake, server = github
    alert = kernel_alert()
    opened = fake.add_issue(REPO, "[auditor] ...", fingerprint_line(alert.fingerprint),
                            author="github-actions[bot]", author_association="NONE",
                            author_type="Bot")
    with channel(server) as hub:
        delivery = hub.send(alert)
    assert delivery.status is DeliveryStatus.ALREADY_PRESENT
    assert delivery.reference == opened["html_url"] and len(fake.open_issues()) == 1


def test_resolved_comments_on_the_issue_and_closes_it_once(github: Fake) -> None:
    fake, server = github
    alert = kernel_alert()
    with channel(server) as hub:
        opened = hub.send(alert)
        done = hub.send(alert.resolved(report="next-report.html", run_time=RUN_TIME))
        again = hub.send(alert.resolved(report="next-report.html", run_time=RUN_TIME))
    assert done.status is DeliveryStatus.SENT and done.reference == opened.reference
    [issue] = fake.issues[REPO]
    assert (issue["state"], issue["state_reason"]) == ("closed", "completed")
    [comment] = fake.comments[(REPO, issue["number"])]
    assert comment.startswith("Resolved: this finding no longer appears")
    assert "`next-report.html`" in comment
    assert again.status is DeliveryStatus.ALREADY_PRESENT
    assert again.reason == "no open issue carries this fingerprint"


def test_a_bad_token_is_a_failed_delivery_that_does_not_repeat_the_token(github: Fake) -> None:
    fake, server = github
    with channel(server, token="ghp_wrong") as hub:
        delivery = hub.send(kernel_alert())
    assert delivery.status is DeliveryStatus.FAILED
    assert delivery.reason is not None and "HTTP 401" in delivery.reason
    assert "Bad credentials" in delivery.reason and "ghp_" not in delivery.reason
    assert fake.open_issues() == []


def test_rate_limiting_is_named(github: Fake) -> None:
    fake, server = github
    fake.rate_limited = True
    with channel(server) as hub:
        delivery = hub.send(kernel_alert())
    assert delivery.reason is not None
    assert "HTTP 403: rate limited (reset at 1767225600)" in delivery.reason


def test_github_unreachable_is_a_failed_delivery() -> None:
    hub = GitHubChannel(REPO, GITHUB_TOKEN, api_url=f"http://127.0.0.1:{unused_port()}",
                        timeouts=FAST, requests_per_second=RATE)
    with hub:
        delivery = hub.send(kernel_alert())
    assert delivery.status is DeliveryStatus.FAILED
    assert delivery.reason is not None and "Connection refused" in delivery.reason
    assert "gave up after 3 attempts" in delivery.reason  # a search is safe to repeat


def test_a_search_is_retried_but_opening_an_issue_is_not(github: Fake) -> None:
    fake, server = github
    failures = {"GET": 1, "POST": 1}

    def behind_a_flaky_proxy(request: Request) -> Reply:
        answer = fake.route(request)  # GitHub acts on it; the proxy then loses the answer
        if failures.get(request.method):
            failures[request.method] -= 1
            return Reply(502, b"<html>502 Bad Gateway</html>")
        return answer

    server.route = behind_a_flaky_proxy
    alert = kernel_alert()
    with channel(server) as hub:
        lost = hub.send(alert)
        rerun = hub.send(alert)
    assert lost.status is DeliveryStatus.FAILED and lost.reason is not None
    assert lost.reason == (f"POST {server.url}/repos/{REPO}/issues: HTTP 502: "
                           "<html>502 Bad Gateway</html>")
    # The next try finds the issue GitHub did open instead of opening a second one.
    assert rerun.status is DeliveryStatus.ALREADY_PRESENT
    assert [r.method for r in server.requests] == ["GET", "GET", "POST", "GET"]
    assert len(fake.open_issues()) == 1


@pytest.mark.parametrize("items", [None, "x", [{"number": "1"}], [{"number": 1}], [7]])
def test_a_malformed_search_answer_is_a_failed_delivery(github: Fake, items: object) -> None:
    fake, server = github
    fake.search_items_override = items if items is not None else {"not": "a list"}
    with channel(server) as hub:
        delivery = hub.send(kernel_alert())
    assert delivery.status is DeliveryStatus.FAILED
    assert delivery.reason is not None and "GitHub search answer" in delivery.reason
    assert fake.open_issues() == []


def test_send_test_checks_the_repository_and_opens_nothing(github: Fake) -> None:
    fake, server = github
    with channel(server) as hub:
        working = hub.send_test(RUN_TIME)
        fake.has_issues = False
        disabled = hub.send_test(RUN_TIME)
    assert working.status is DeliveryStatus.SENT
    assert working.reference == f"{fake.web}/{REPO}"
    assert disabled.status is DeliveryStatus.FAILED
    assert fake.issues[REPO] == []


# -- hostile text -------------------------------------------------------------------------------

ALLOWED_TAGS = {"p", "strong", "code", "ul", "li", "table", "thead", "tbody", "tr", "th", "td",
                "br"}


def hostile_alert(payload: str) -> Alert:
    alert = Alert.from_finding(finding("kernel", detail=payload + " " + MD_LINK,
                                       subject=payload, note=NEWLINES + AUTOLINK),
                               report=REPORT, run_time=RUN_TIME)
    return replace(alert, component=MENTION + payload, release=payload)


@pytest.mark.parametrize("payload", HOSTILE)
def test_hostile_text_in_the_issue_body_renders_as_plain_text(payload: str) -> None:
    alert = hostile_alert(payload)
    page = inspect(cmarkgfm.github_flavored_markdown_to_html(
        issue_body(alert), options=Options.CMARK_OPT_UNSAFE))
    assert page.tags() <= ALLOWED_TAGS  # no link, image, heading, script or raw HTML
    assert not page.comments
    assert sum(1 for e in page.elements if e.tag == "tr") == 1 + len(alert.evidence)
    assert sum(1 for e in page.elements if e.tag == "td") == 2 * len(alert.evidence)
    codes = ["".join(e for e, parents in page.texts if parents[-1:] == ("code",))]
    assert visible(payload, keep="").strip() in codes[0]
    # GitHub links @mentions and #refs in text outside code: none may be left bare.
    outside = "".join(data for data, parents in page.texts if "code" not in parents)
    assert "@" not in outside and "#" not in outside


@pytest.mark.parametrize("payload", [NEWLINES, LONG, "\x1b[2J" + MENTION])
def test_the_title_is_one_bounded_line_github_accepts(github: Fake, payload: str) -> None:
    fake, server = github
    with channel(server) as hub:
        delivery = hub.send(replace(kernel_alert(), component=payload))
    assert delivery.status is DeliveryStatus.SENT
    title = fake.open_issues()[0]["title"]
    assert len(title) <= TITLE_CHARS and title.isprintable()


#: The most each character grows by in Markdown: an invisible one outside the BMP, escaped.
WIDEST = "\U000e0001"


def test_an_enormous_hostile_finding_still_opens_an_issue(github: Fake) -> None:
    # A log decides how long a detail, a release name or an evidence value is: a body over
    # GitHub's 65,536 characters is refused on every run, so the issue would never open.
    fake, server = github
    wide = WIDEST * 100_000
    evidence = {f"{WIDEST * 500}{n}": wide for n in range(20)}
    alert = Alert.from_finding(replace(finding("kernel", detail=wide, **evidence),
                                       release=wide), report=REPORT, run_time=RUN_TIME)
    with channel(server) as hub:
        delivery = hub.send(alert)
    assert delivery.status is DeliveryStatus.SENT, delivery.reason
    [issue] = fake.open_issues()
    assert len(issue["body"]) <= BODY_CHARS
    assert issue["body"].endswith(fingerprint_line(alert.fingerprint) + "\n")


def test_an_oversized_answer_is_refused() -> None:
    # The channel reads GitHub's answers (the issue number): within a bound.
    with LocalServer(lambda request: Reply(body=b"x" * (MAX_ANSWER_BYTES + 1))) as server:
        with channel(server) as hub:
            delivery = hub.send(kernel_alert())
    assert delivery.reason is not None and "larger than" in delivery.reason


def test_a_search_that_timed_out_opens_no_duplicate(github: Fake) -> None:
    # GitHub answers a search it could not finish with 200 and `incomplete_results`: the
    # existing issue may be among what it did not search. Before, it opened a second one.
    fake, server = github
    alert = kernel_alert()
    with channel(server) as hub:
        hub.send(alert)
        fake.search_timed_out = True
        delivery = hub.send(alert)
    assert delivery.status is DeliveryStatus.FAILED
    assert delivery.reason is not None and "incomplete" in delivery.reason
    assert len(fake.open_issues()) == 1


def test_a_resolve_that_could_not_close_the_issue_leaves_no_extra_comment(github: Fake) -> None:
    # Closing is retried by the next run. Before, the comment went first and was posted again
    # by every run until the issue could be closed.
    fake, server = github
    alert = kernel_alert()
    done = alert.resolved(report="next-report.html", run_time=RUN_TIME)
    with channel(server) as hub:
        hub.send(alert)
        fake.refuse_changes = True
        refused = hub.send(done)
        fake.refuse_changes = False
        closed = hub.send(done)
    assert refused.status is DeliveryStatus.FAILED and closed.status is DeliveryStatus.SENT
    [issue] = fake.issues[REPO]
    assert issue["state"] == "closed"
    assert len(fake.comments.get((REPO, issue["number"]), [])) == 1


def test_a_closed_issue_whose_comment_was_refused_is_resolved_with_a_note(github: Fake) -> None:
    fake, server = github
    alert = kernel_alert()
    with channel(server) as hub:
        hub.send(alert)
        fake.refuse_comments = True
        done = hub.send(alert.resolved(report="next-report.html", run_time=RUN_TIME))
    assert done.status is DeliveryStatus.SENT
    assert done.reason is not None and done.reason.startswith(
        "closed without the comment saying why: POST ") and "HTTP 403" in done.reason
    assert fake.open_issues() == []
