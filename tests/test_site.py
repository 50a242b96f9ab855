"""The rendered site, in a real browser: headless Chromium from Debian's packages.

Every page of the site built from the committed notebooks is loaded over a local HTTP
server. A page fails on any console error (a failed request included), on TeX that
MathJax could not render or left as text, and on an image that did not load. A page
built with those faults on purpose must fail the same checks. The index's screenshot is
kept in build/test-artifacts/.
"""

import functools
import http.server
import json
import re
import threading
import time
from pathlib import Path

import pytest
import render_site
import report

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "build" / "test-artifacts"
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
# Chromium must not try to reach Google's services from a machine without internet.
CHROMIUM_FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage", "--window-size=1280,900"]
# Dollar-delimited text with a TeX marker in it, display dollars, or \( \[ delimiters.
UNRENDERED_TEX = re.compile(r"\$[^$\n]*[\\^_{}][^$\n]*\$|\$\$|\\\(|\\\[")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("site") / "site"
    render_site.build("quick", out)
    return out


@pytest.fixture(scope="module")
def server(site):
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(site)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not Path(p).exists()]
    if missing:
        pytest.fail(f"{', '.join(missing)} not found: `make test` installs Debian's chromium and "
                    "chromium-driver; or run `apt-get install chromium chromium-driver`")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS + [f"--user-data-dir={tmp_path_factory.mktemp('chromium')}"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


def page_problems(driver, url: str, expect_content: bool) -> list[str]:
    """Everything wrong with one page as a reader's browser shows it."""
    driver.get_log("browser")  # drop what earlier pages left
    driver.get(url)
    deadline = time.monotonic() + 60
    while not driver.execute_script("return !!(window.lipnbMath && window.lipnbMath.done)"):
        if time.monotonic() > deadline:
            return [f"{url}: MathJax did not finish typesetting within 60 s"]
        time.sleep(0.1)
    problems = [f"{url}: console {e['level']}: {e['message']}" for e in driver.get_log("browser")
                if e["level"] in ("SEVERE", "ERROR")]
    problems += [f"{url}: TeX error: {m}" for m in driver.execute_script("return window.lipnbMath.errors")]
    markdown = driver.execute_script(
        "return Array.from(document.querySelectorAll('.jp-MarkdownOutput, .lipnb-page p')).map(e => e.innerText)")
    problems += [f"{url}: unrendered TeX: {m.group(0)[:80]!r}" for text in markdown
                 for m in UNRENDERED_TEX.finditer(text)]
    images = driver.execute_script(
        "return Array.from(document.images).map(i => [i.complete && i.naturalWidth > 0, i.src.slice(0, 60)])")
    problems += [f"{url}: image did not load: {src}" for ok, src in images if not ok]
    if expect_content:
        n_math = driver.execute_script("return MathJax.Hub.getAllJax().length")
        if n_math == 0:
            problems.append(f"{url}: no rendered math at all")
        if not images:
            problems.append(f"{url}: no figures")
    return problems


def test_every_page_renders_cleanly_in_chromium(site, server, browser):
    pages = json.loads((site / "manifest.json").read_text())["pages"]
    assert pages[0] == "index.html" and len(pages) == 1 + len(report.CATALOG)
    problems = []
    for page in pages:
        problems += page_problems(browser, f"{server}/{page}", expect_content=page != "index.html")
        # Navigation: every link in the bar leads to a page of the site.
        for href in browser.execute_script("return Array.from(document.querySelectorAll('nav.lipnb a'))"
                                           ".map(a => a.getAttribute('href'))"):
            if href not in pages:
                problems.append(f"{page}: navigation link to {href!r}, which is not a page of the site")
    assert not problems, "\n".join(problems)


def test_index_lists_notebooks_in_article_order_and_every_claim(site, server, browser):
    browser.get(f"{server}/index.html")
    links = browser.execute_script("return Array.from(document.querySelectorAll('table.catalog a'))"
                                   ".map(a => a.getAttribute('href'))")
    assert links == [f"{stem}.html" for stem, _, _ in report.CATALOG]
    rows = browser.execute_script("return document.querySelectorAll('table.claims tbody tr').length")
    assert rows == len(report.load_claims()) > 0
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    browser.set_window_size(1280, 2000)
    assert browser.save_screenshot(str(ARTIFACTS / "site-index.png"))
    assert (ARTIFACTS / "site-index.png").stat().st_size > 10_000


def test_the_checks_catch_a_broken_page(site, server, browser):
    """A page with bad TeX, TeX left as text and a missing image fails every check."""
    broken = (site / "index.html").read_text().replace(
        "<h2>Notebooks</h2>",
        r"<p>bad $\frac{1$ and $\foo$</p><p class='tex2jax_ignore'>left as text: $\alpha$</p>"
        r"<img src='missing.png'><h2>Notebooks</h2>")
    (site / "broken.html").write_text(broken)
    try:
        problems = page_problems(browser, f"{server}/broken.html", expect_content=False)
    finally:
        (site / "broken.html").unlink()
    text = "\n".join(problems)
    assert "TeX error: Missing close brace" in text
    assert "Undefined control sequence" in text
    assert "unrendered TeX:" in text and "alpha" in text
    assert "image did not load" in text and "console SEVERE" in text


def test_unrendered_tex_pattern():
    assert UNRENDERED_TEX.search(r"the norm $\|W\|_2$ here")
    assert UNRENDERED_TEX.search(r"display $$x$$")
    assert not UNRENDERED_TEX.search("costs $5 and $6 for two")


def test_pages_fetch_nothing_from_the_internet(site):
    external = re.compile(r"""<(?:script|link|img|iframe)\b[^>]*\b(?:src|href)=["']?(?:https?:)?//""", re.I)
    for page in site.glob("*.html"):
        hits = external.findall(page.read_text())
        assert not hits, f"{page.name} loads external resources: {hits[:3]}"
    assert (site / "_static" / "mathjax" / "MathJax.js").exists()


def test_render_refuses_unknown_profile_and_missing_notebooks(tmp_path, monkeypatch):
    with pytest.raises(SystemExit, match="unknown profile"):
        render_site.build("paper", tmp_path / "out")
    monkeypatch.setattr(render_site, "notebook_dir", lambda profile: (tmp_path, tmp_path))
    with pytest.raises(SystemExit, match="no executed notebook"):
        render_site.build("full", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_failed_render_keeps_the_previous_site(tmp_path, monkeypatch):
    out = tmp_path / "site"
    out.mkdir()
    (out / "index.html").write_text("previous")

    def broken(*args, **kwargs):
        raise RuntimeError("nbconvert failed")

    monkeypatch.setattr(render_site, "render_notebook", broken)
    with pytest.raises(RuntimeError):
        render_site.build("quick", out)
    assert (out / "index.html").read_text() == "previous"
