"""The HTML report in a real headless Chromium (Debian's package): no script runs, colours paint.

Without Chromium the tests are skipped with the reason, except in CI (CI=true), where they fail;
AUDITOR_SKIP_BROWSER=1 skips them on purpose. AUDITOR_CHROMIUM overrides the binary;
AUDITOR_UPDATE_SCREENSHOT=1 refreshes the reference screenshot tests/report/data/report.png.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from auditor.report.formats import OutputFormat, render
from auditor.report.html_page import STATUS_COLOURS
from tests.report import reports
from tests.report.htmltree import Inspector, inspect
from tests.report.png import Image, decode
from tests.report.reports import hostile_report, oak_report

pytestmark = pytest.mark.slow

REFERENCE = Path(__file__).parent / "data" / "report.png"
WIDTH, HEIGHT = 1280, 2000
TITLE = "auditor report: FAIL"
# Enough pixels for a painted cell (a cell is about 300×65), far more than anti-aliasing yields.
MIN_CELL_PIXELS = 5000


def _rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


@pytest.fixture(scope="module")
def chromium() -> str:
    if os.environ.get("AUDITOR_SKIP_BROWSER") == "1":
        pytest.skip("AUDITOR_SKIP_BROWSER=1: browser test skipped on purpose")
    binary = shutil.which(os.environ.get("AUDITOR_CHROMIUM", "/usr/bin/chromium"))
    if binary is None:
        reason = ("Chromium not found: install Debian's package (apt-get install -y chromium) "
                  "or point AUDITOR_CHROMIUM at it")
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason)  # CI proves the report in a real browser
        pytest.skip(reason)
    return binary


def _run(chromium: str, tmp_path: Path, page: Path, *args: str) -> str:
    profile = tmp_path / f"profile-{page.stem}"
    command = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
               "--no-first-run", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--hide-scrollbars",
               "--force-device-scale-factor=1", f"--user-data-dir={profile}", *args,
               page.as_uri()]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def _dom(chromium: str, tmp_path: Path, name: str, html: str) -> Inspector:
    page = tmp_path / f"{name}.html"
    page.write_text(html, encoding="utf-8")
    return inspect(_run(chromium, tmp_path, page, "--dump-dom"))


def _title(dom: Inspector) -> str:
    return "".join(d for d, parents in dom.texts if parents[-1:] == ("title",)
                   and "svg" not in parents)


def _screenshot(chromium: str, tmp_path: Path, name: str, html: str) -> Image:
    page = tmp_path / f"{name}.html"
    page.write_text(html, encoding="utf-8")
    png = tmp_path / f"{name}.png"
    _run(chromium, tmp_path, page, f"--screenshot={png}", f"--window-size={WIDTH},{HEIGHT}")
    if name == "oak" and os.environ.get("AUDITOR_UPDATE_SCREENSHOT") == "1":
        shutil.copyfile(png, REFERENCE)
    return decode(png.read_bytes())


def test_the_dom_check_detects_a_script_that_runs(chromium: str, tmp_path: Path) -> None:
    # Control: the same payload unescaped and without our CSP does change the title.
    dom = _dom(chromium, tmp_path, "control", f"<title>{TITLE}</title>{reports.SCRIPT}")
    assert _title(dom) == "pwned-script"


def test_hostile_report_runs_no_script_and_shows_payloads_as_text(
        chromium: str, tmp_path: Path) -> None:
    dom = _dom(chromium, tmp_path, "hostile", render(hostile_report(), OutputFormat.HTML))
    assert _title(dom) == TITLE
    assert not dom.tags() & {"script", "img", "iframe", "object", "embed", "a", "form", "link"}
    assert not [(e.tag, n) for e in dom.elements for n, _ in e.attrs if n.startswith("on")]
    body = dom.text
    for payload in (reports.SCRIPT, reports.IMG, reports.SVG_BREAKOUT, reports.HYPERLINK):
        assert payload in body


def test_csp_blocks_a_script_even_if_one_slipped_through(chromium: str, tmp_path: Path) -> None:
    page = render(oak_report(), OutputFormat.HTML)
    injected = page.replace("</main>", "<script>document.title='pwned-csp'</script></main>")
    assert injected != page
    dom = _dom(chromium, tmp_path, "injected", injected)
    assert "script" in dom.tags()  # it is in the page...
    assert _title(dom) == TITLE  # ...and the Content-Security-Policy stopped it


def _status_boxes(image: Image) -> dict[str, tuple[int, int, int, int]]:
    """Bounding box (x0, y0, x1, y1) per status, checking each status colour is really painted."""
    wanted = {_rgb(colour): colour for colour in STATUS_COLOURS.values()}
    boxes: dict[str, list[int]] = {}
    counts = dict.fromkeys(wanted.values(), 0)
    for y in range(image.height):
        row = image.rows[y]
        for x in range(0, image.width, 2):  # every other column: cells are hundreds wide
            colour = wanted.get((row[3 * x], row[3 * x + 1], row[3 * x + 2]))
            if colour is not None:
                counts[colour] += 2
                box = boxes.setdefault(colour, [x, y, x, y])
                box[0], box[1] = min(box[0], x), min(box[1], y)
                box[2], box[3] = max(box[2], x), max(box[3], y)
    for colour, count in counts.items():
        assert count >= MIN_CELL_PIXELS, f"{colour} cells not painted ({count} pixels)"
    # Statuses sharing a colour (mismatch, not_endorsed, invalid: red) share its box.
    return {status: (b[0], b[1], b[2], b[3]) for status, colour in STATUS_COLOURS.items()
            for b in [boxes[colour]]}


def _check_matrix_layout(image: Image) -> None:
    assert (image.width, image.height) == (WIDTH, HEIGHT)
    boxes = _status_boxes(image)
    # The real release column (all match) sits left of the candidate column.
    assert boxes["match"][2] < boxes["undecidable"][0]
    assert boxes["undecidable"][0] == boxes["not_logged"][0] == boxes["info"][0]
    # Rows in report order: stage0 and kernel (red) above init_ram_fs (amber) above
    # system_image (orange) above the observed-only acpi row (grey).
    assert boxes["mismatch"][1] < boxes["undecidable"][1] < boxes["not_logged"][1] \
        < boxes["info"][1]


def test_screenshot_paints_the_status_matrix(chromium: str, tmp_path: Path) -> None:
    image = _screenshot(chromium, tmp_path, "oak", render(oak_report(), OutputFormat.HTML))
    _check_matrix_layout(image)
    reference = decode(REFERENCE.read_bytes())
    _check_matrix_layout(reference)
    fresh, kept = image.colours(), reference.colours()
    for colour in {_rgb(c) for c in STATUS_COLOURS.values()}:
        assert abs(fresh[colour] - kept[colour]) <= 0.25 * kept[colour], colour


def test_hostile_text_does_not_break_the_matrix(chromium: str, tmp_path: Path) -> None:
    image = _screenshot(chromium, tmp_path, "hostile", render(hostile_report(), OutputFormat.HTML))
    _check_matrix_layout(image)


def test_the_colour_check_fails_on_an_unstyled_page(chromium: str, tmp_path: Path) -> None:
    # Control: without the stylesheet the cells are white, and the check must say so.
    page = render(oak_report(), OutputFormat.HTML)
    unstyled = page[: page.index("<style>")] + page[page.index("</style>") + len("</style>"):]
    image = _screenshot(chromium, tmp_path, "unstyled", unstyled)
    with pytest.raises(AssertionError, match="cells not painted"):
        _status_boxes(image)

