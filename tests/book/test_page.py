"""The chapter's web page in a real browser: headless Chromium (Debian's ``chromium`` and
``chromium-driver``) driven by Selenium, the page served from 127.0.0.1 with every other host
unreachable, as a reader without a network would have it.

The page is built from executed notebooks in ``D2L_ALEXNET_EXECUTED_DIR`` (default
``build/executed``, where ``tools/run_tests.py`` saves the notebooks the test suite ran); when the
PyTorch and TensorFlow ones are missing or older than their sources, this test runs those in
the smoke mode first. Screenshots of each edition's first screen: ``build/book/screenshot-en.png``
and ``-id.png``. Without Chromium, Selenium or Sphinx the test skips, except in CI (``CI=true``),
where it fails.
"""

import functools
import http.server
import os
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / "build" / "book"
EXECUTED = Path(os.environ.get("D2L_ALEXNET_EXECUTED_DIR", ROOT / "build" / "executed"))
LANGUAGES = ("en", "id")
# Each framework's code imports it: what shows that its tab, and not another's, is visible.
IMPORTS = {"pytorch": "torch", "mxnet": "mxnet", "jax": "jax", "tensorflow": "tensorflow"}
FALLBACK_BACKENDS = ("pytorch", "tensorflow")  # two frameworks are enough to switch tabs


def missing(what):
    """Skip outside CI; in CI a missing browser or package is a failure."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{what} (CI must run the browser test: .ci/run installs it)")
    pytest.skip(what)


def executed_notebooks():
    """The executed notebooks' folder, running the fallback ones when they are missing or
    older than their sources."""
    stale = []
    for backend in FALLBACK_BACKENDS:
        for folder in ("", "id"):
            source = ROOT / "notebooks" / folder / f"alexnet-{backend}.ipynb"
            executed = EXECUTED / folder / source.name
            if not executed.is_file() or executed.stat().st_mtime < source.stat().st_mtime:
                stale.append(backend)
    if stale:
        run = subprocess.run([sys.executable, "tools/run_notebooks.py", "--mode", "smoke",
                              "--backend", *sorted(set(stale)), "--executed-dir", str(EXECUTED)],
                             cwd=ROOT, capture_output=True, text=True)
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return EXECUTED


@pytest.fixture(scope="module")
def site():
    """Build the page (both editions) and serve it on 127.0.0.1; yields the base URL."""
    for module in ("sphinx", "myst_parser", "sphinx_design", "furo"):
        try:
            __import__(module)
        except ImportError:
            missing(f"{module} is not installed: pip install -e '.[docs]'")
    out = BUILD / "test"
    build = subprocess.run([sys.executable, "tools/build_book.py", "--executed",
                            str(executed_notebooks()), "--out", str(out), "--quiet"],
                           cwd=ROOT, capture_output=True, text=True)
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    assert "WARNING" not in build.stderr, build.stderr[-3000:]
    handler = functools.partial(QuietHandler, directory=str(out / "html"))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        missing("selenium is not installed: pip install -e '.[docs]'")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_path = shutil.which("chromedriver")
    if chromium is None or driver_path is None:
        missing("chromium or chromedriver is missing: apt-get install chromium chromium-driver")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu",
                     "--disable-dev-shm-usage", "--window-size=1280,900",
                     # No network: any host but the page's own server is unreachable.
                     "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # Chromium leaves an org.chromium.Chromium.* folder in TMPDIR: one that pytest removes.
    scratch = str(tmp_path_factory.mktemp("chromium"))
    driver = webdriver.Chrome(options=options, service=Service(
        executable_path=driver_path, env={**os.environ, "TMPDIR": scratch}))
    driver.set_script_timeout(60)
    yield driver
    driver.quit()


def open_page(browser, url):
    """Load ``url`` and wait until MathJax has typeset it; returns the formulas rendered."""
    browser.get(url)
    return browser.execute_async_script("""
        const done = arguments[arguments.length - 1];
        const settle = () => (window.MathJax && MathJax.startup && MathJax.startup.promise
            ? MathJax.startup.promise : Promise.resolve());
        const loaded = document.readyState === 'complete' ? Promise.resolve()
            : new Promise(resolve => window.addEventListener('load', resolve));
        loaded.then(settle).then(
            () => done(document.querySelectorAll('mjx-container').length),
            error => done(-1));""")


def check_loaded_and_quiet(browser, base):
    """Every image has loaded, the console has no error, and nothing came from another host."""
    broken = browser.execute_script(
        "return Array.from(document.images).filter(i => !i.complete || i.naturalWidth === 0)"
        ".map(i => i.src)")
    assert broken == [], f"images that did not load: {broken}"
    errors = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert errors == [], f"console errors: {errors}"
    elsewhere = browser.execute_script(
        "return performance.getEntriesByType('resource').map(r => r.name)"
        ".filter(name => !name.startsWith(arguments[0]))", base)
    assert elsewhere == [], f"requests that left the machine: {elsewhere}"


TAB_STATE = """
    return Array.from(document.querySelectorAll('.sd-tab-set')).map(set => {
        const inputs = Array.from(set.querySelectorAll(':scope > input'));
        const checked = inputs.find(input => input.checked);
        const label = checked && checked.nextElementSibling;
        const content = label && label.nextElementSibling;
        return {ids: Array.from(set.querySelectorAll(':scope > label'))
                    .map(l => l.dataset.syncId),
                active: label ? label.dataset.syncId : null,
                shown: content ? content.getClientRects().length > 0 : false,
                text: content ? content.innerText : ''};
    });"""


def choose(browser, framework):
    """Click ``framework``'s label in the first tab set that has it, as a reader would."""
    label = browser.find_element(
        "css selector", f".sd-tab-set > label[data-sync-id='{framework}']")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", label)
    label.click()


@pytest.mark.parametrize("language", LANGUAGES)
def test_page_loads_offline_with_math_and_synced_tabs(site, browser, language):
    base = f"{site}/{language}/"
    formulas = open_page(browser, base + "index.html")
    BUILD.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(BUILD / f"screenshot-{language}.png"))
    assert formulas > 0, "MathJax typeset no formula"
    check_loaded_and_quiet(browser, site)
    other = "id" if language == "en" else "en"
    assert browser.find_elements("css selector", f"a[href='../{other}/index.html']")

    tab_sets = browser.execute_script(TAB_STATE)
    assert len(tab_sets) > 10, "the page has (almost) no framework tabs"
    frameworks = max((tab_set["ids"] for tab_set in tab_sets), key=len)  # PyTorch first
    assert len(frameworks) >= 2
    # Every framework, ending on the first (the one shown at first, and stored in the browser
    # for the next page).
    for framework in [*frameworks[1:], frameworks[0]]:
        choose(browser, framework)
        state = browser.execute_script(TAB_STATE)
        wrong = [tab_set["ids"] for tab_set in state
                 if framework in tab_set["ids"] and not (tab_set["active"] == framework
                                                         and tab_set["shown"])]
        assert wrong == [], f"tab sets not showing {framework}: {len(wrong)} of {len(state)}"
        shown = "\n".join(tab_set["text"] for tab_set in state if tab_set["active"])
        assert re.search(rf"\b(import|from) {IMPORTS[framework]}\b", shown), \
            f"no {IMPORTS[framework]} import in the visible {framework} code"
        for other_framework, module in IMPORTS.items():
            if other_framework != framework:
                assert not re.search(rf"^\s*import {module}\b", shown, re.MULTILINE), \
                    f"{other_framework}'s code is visible with {framework} chosen"
    check_loaded_and_quiet(browser, site)


@pytest.mark.parametrize("language", LANGUAGES)
def test_lesson_page_loads_offline(site, browser, language):
    base = f"{site}/{language}/"
    open_page(browser, base + "lesson.html")
    assert browser.find_elements("css selector", "div.highlight")
    check_loaded_and_quiet(browser, site)


def test_the_indonesian_edition_says_the_themes_words_in_indonesian(site):
    """Furo writes its labels in English whatever the language (its translations have no
    Indonesian): the build says them in Indonesian, so no English is left around the text."""
    english = ("Skip to content", "Back to top", "On this page", "Made with", "Toggle ",
               "Link to this", "Light mode", "Dark mode", "<title>Expand", "Copyright &#169;",
               "<span>Previous</span>", "<span>Next</span>", '"title">Home<')
    pages = sorted((BUILD / "test" / "html" / "id").glob("*.html"))
    assert len(pages) >= 4
    for page in pages:
        html = page.read_text(encoding="utf-8")
        assert [words for words in english if words in html] == [], page.name
    assert "Back to top" in (BUILD / "test" / "html" / "en" / "index.html").read_text("utf-8")


def test_the_api_reference_documents_every_backends_public_names(site, browser):
    """book/api.md, built by autodoc: each backend's public names with their docstrings (the
    frameworks this environment lacks stood in for), linked from both editions."""
    sys.path.insert(0, str(ROOT))
    from d2l_alexnet.core.contract import PUBLIC_NAMES

    open_page(browser, f"{site}/en/api.html")
    check_loaded_and_quiet(browser, site)
    documented = set(browser.execute_script(
        "return Array.from(document.querySelectorAll('dt[id]')).map(dt => dt.id)"))
    for module in ("torch", "mxnet", "jax", "tensorflow"):
        missing_names = [name for name in PUBLIC_NAMES if name != "DataModule"
                         and f"d2l_alexnet.{module}.{name}" not in documented]
        assert missing_names == [], (module, missing_names)
    # DataModule is the core's class in every backend, documented once there.
    assert "d2l_alexnet.core.datamodule.DataModule" in documented
    signature = browser.find_element("id", "d2l_alexnet.mxnet.AlexNet").text
    assert re.search(r"\bresize\b[^,]*= ?224", signature) and "*args" not in signature, signature
    for language in LANGUAGES:
        open_page(browser, f"{site}/{language}/index.html")
        link = browser.find_element("css selector", "a[href$='api.html']")
        assert link.get_attribute("href").endswith("/en/api.html")
