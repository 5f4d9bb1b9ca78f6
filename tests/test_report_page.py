"""`crossmodel-matcher report`: the HTML page and the single-figure PNG, and the page in a browser."""

from __future__ import annotations

import json
import struct

import pytest

from crossmodel_matcher.cli import main
from tests.browser import Browser, find_chromium

MEASURE_IMAGES = """JSON.stringify(Array.from(document.images).map(i => ({
  id: i.closest('figure').id, complete: i.complete, natural: [i.naturalWidth, i.naturalHeight],
  shown: [i.clientWidth, i.clientHeight]})))"""


@pytest.fixture(scope="module")
def page(tiny_pair_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "report.html"
    assert main(["report", "--pair", str(tiny_pair_dir), "--model", "narrow", "--feature", "1", "--out", str(out)]) == 0
    return out


def test_report_page_is_self_contained(page):
    html = page.read_text()
    assert html.startswith("<!DOCTYPE html>")
    assert html.count("src='data:image/png;base64,") == 3
    assert "http://" not in html and "https://" not in html and "<script" not in html
    for section in ("Feature card", "Matches in wide", "Decomposition", "Figures", "Evidence record"):
        assert section in html


def test_report_png_is_one_figure(tiny_pair_dir, tmp_path):
    out = tmp_path / "figure.png"
    args = ["report", "--pair", str(tiny_pair_dir), "--model", "narrow", "--feature", "1", "--out", str(out)]
    assert main([*args, "--figure", "decomposition"]) == 0
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">II", data[16:24]) == (800, 600)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "narrow", "--feature", "99", "--out", "{tmp}/r.html"], "out of range"),
        (["--model", "nope", "--feature", "1", "--out", "{tmp}/r.html"], "unknown model"),
        (["--model", "narrow", "--feature", "1", "--out", "{tmp}/r.pdf"], ".html file"),
        (["--model", "narrow", "--feature", "1", "--out", "{tmp}/missing/r.html"], "does not exist"),
    ],
)
def test_report_bad_arguments_exit_2_and_write_nothing(tiny_pair_dir, tmp_path, capsys, args, message):
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    assert main(["report", "--pair", str(tiny_pair_dir), *args]) == 2
    err = capsys.readouterr().err
    assert "error:" in err and message in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


@pytest.fixture(scope="module")
def chromium() -> str:
    path = find_chromium()
    if path is None:
        pytest.skip("chromium is not installed: `apt-get install chromium` (scripts/setup.sh installs it when missing)")
    return path


def test_browser_check_catches_a_broken_page(chromium, tmp_path):
    """The browser harness itself: a console error and a broken image are seen."""
    broken = tmp_path / "broken.html"
    broken.write_text(
        "<!DOCTYPE html><html><body><figure id='figure-x'><img src='data:image/png;base64,AAAA'>"
        "</figure><script>console.error('boom')</script></body></html>"
    )
    with Browser(chromium) as browser:
        run = browser.open(broken.as_uri(), MEASURE_IMAGES)
    assert any("boom" in e for e in run.errors)
    assert json.loads(run.value)[0]["natural"] == [0, 0]


def test_report_page_in_headless_chromium(page, chromium, tmp_path):
    """The page renders in a real browser with no console errors, figures at 800x600."""
    with Browser(chromium) as browser:
        run = browser.open(page.resolve().as_uri(), MEASURE_IMAGES)
    assert run.errors == []
    images = json.loads(run.value)
    assert [i["id"] for i in images] == ["figure-containment", "figure-decomposition", "figure-overview"]
    for image in images:
        assert image["complete"] and image["natural"] == [800, 600] and image["shown"] == [800, 600]
    assert run.screenshot[:8] == b"\x89PNG\r\n\x1a\n"
    (tmp_path / "page.png").write_bytes(run.screenshot)
