"""End-to-end: a real uvicorn server on loopback, driven by headless Chromium through the web page.

Uploads a Caltech-101 photo from the shared data, checks that ranked labels with score bars and the caption
render (zero-shot), then that the evidence captions render (vocabulary-free), at desktop and phone widths,
saving screenshots under the test's tmp_path. Uses the test-tiny model with the stand-in captioner and
database from ``serve_helpers``, so it runs in seconds and offline.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.serve.serve_helpers import ColourCaptioner, StandInLibrary

pytestmark = pytest.mark.browser

CHROMIUM = Path(os.environ.get("VOCABFREE_CHROMIUM", "/usr/bin/chromium"))
CHROMEDRIVER = Path(os.environ.get("VOCABFREE_CHROMEDRIVER", "/usr/bin/chromedriver"))
REPO = Path(__file__).resolve().parents[2]
PHOTO = REPO.parent / "shared" / "data" / "caltech101" / "images" / "Motorbikes" / "image_0066.jpg"

if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
    pytest.skip(
        f"headless browser test needs {CHROMIUM} and {CHROMEDRIVER} "
        "(Debian: apt-get install -y chromium chromium-driver)",
        allow_module_level=True,
    )
webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (the test extra)")
uvicorn = pytest.importorskip("uvicorn", reason="uvicorn is not installed (the serve extra)")

from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as EC  # noqa: E402, N812
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

from vocabfree.serve.app import create_app  # noqa: E402
from vocabfree.serve.dependencies import get_library  # noqa: E402
from vocabfree.serve.settings import ServeSettings  # noqa: E402


@pytest.fixture
def server() -> Iterator[str]:
    """The app under uvicorn in a thread, on a free loopback port chosen by the OS (no race)."""
    settings = ServeSettings(models=("test-tiny",), database="stand-in", caption_checkpoint="stand-in", warmup=False)
    app = create_app(settings)
    library = StandInLibrary(ColourCaptioner(), database=True)
    app.dependency_overrides[get_library] = lambda: library
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("uvicorn did not start within 30 s")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}/"
    server.should_exit = True
    thread.join(timeout=15)
    sock.close()


@pytest.fixture
def browser(tmp_path) -> Iterator[webdriver.Chrome]:
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
        "--window-size=1280,900",
    ):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def _classify(driver, labels: str) -> None:
    labels_box = driver.find_element(By.ID, "labels")
    labels_box.clear()
    if labels:
        labels_box.send_keys(labels)
    driver.find_element(By.ID, "submit").click()


def _wait_for_results(driver, mode: str) -> None:
    wait = WebDriverWait(driver, 30)
    wait.until(lambda d: d.find_element(By.ID, "mode").text == mode or d.find_element(By.ID, "error").text)
    assert driver.find_element(By.ID, "error").text == ""
    wait.until(EC.visibility_of_element_located((By.ID, "results")))


def test_upload_classify_caption_and_evidence(server, browser, tmp_path):
    if not PHOTO.is_file():
        pytest.skip(f"shared test photo {PHOTO} is absent")
    browser.get(server)
    WebDriverWait(browser, 15).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#model option"))
    assert browser.find_element(By.ID, "model").get_attribute("value") == "test-tiny"

    browser.find_element(By.ID, "file").send_keys(str(PHOTO))
    WebDriverWait(browser, 10).until(lambda d: d.find_element(By.ID, "preview").is_displayed())
    assert browser.find_element(By.ID, "submit").is_enabled()

    # Zero-shot: the three labels come back ranked, each with a score bar, plus the caption.
    _classify(browser, "motorbike, airplane, face")
    _wait_for_results(browser, "zero-shot")
    rows = browser.find_elements(By.CSS_SELECTOR, "#predictions li")
    labels = [row.find_element(By.CLASS_NAME, "label").text for row in rows]
    assert sorted(labels) == ["airplane", "face", "motorbike"]
    scores = [float(row.find_element(By.CLASS_NAME, "score").text.rstrip("%")) for row in rows]
    assert scores == sorted(scores, reverse=True) and sum(scores) == pytest.approx(100, abs=0.5)
    widths = [row.find_element(By.CLASS_NAME, "fill").value_of_css_property("width") for row in rows]
    assert float(widths[0].rstrip("px")) > 0
    caption = browser.find_element(By.ID, "caption").text
    assert caption.startswith("a ") and caption.endswith(" square")  # the stand-in captioner's sentence
    assert not browser.find_element(By.ID, "evidence-block").is_displayed()
    browser.save_screenshot(str(tmp_path / "desktop-zero-shot.png"))

    # Vocabulary-free (no labels): names from retrieved captions, with those captions as evidence.
    _classify(browser, "")
    _wait_for_results(browser, "vocabulary-free")
    assert browser.find_elements(By.CSS_SELECTOR, "#predictions li .label")
    evidence = [li.text for li in browser.find_elements(By.CSS_SELECTOR, "#evidence li")]
    assert len(evidence) == 3 and all(text.startswith("a ") for text in evidence)
    browser.save_screenshot(str(tmp_path / "desktop-vocabulary-free.png"))

    # Phone width: one column, nothing wider than the screen.
    browser.set_window_size(390, 844)
    time.sleep(0.3)
    overflow = browser.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0
    browser.save_screenshot(str(tmp_path / "phone.png"))
    full_height = browser.execute_script("return document.body.scrollHeight")
    browser.set_window_size(390, min(int(full_height) + 140, 3000))
    browser.save_screenshot(str(tmp_path / "phone-full.png"))
    copy_to = os.environ.get("VOCABFREE_SCREENSHOT_DIR")
    if copy_to:  # for a human to look at them
        for png in tmp_path.glob("*.png"):
            Path(copy_to, png.name).write_bytes(png.read_bytes())


def test_error_is_shown_on_the_page(server, browser, tmp_path):
    bad = tmp_path / "notes.png"
    bad.write_bytes(b"this is not a png")
    browser.get(server)
    browser.find_element(By.ID, "file").send_keys(str(bad))
    _classify(browser, "a, b")
    error = WebDriverWait(browser, 20).until(EC.visibility_of_element_located((By.ID, "error")))
    assert "notes.png" in error.text and "not a readable image" in error.text
    assert not browser.find_element(By.ID, "results").is_displayed()


DROP_RED_SQUARE = """
const done = arguments[arguments.length - 1];
const canvas = document.createElement("canvas");
canvas.width = canvas.height = 32;
const ctx = canvas.getContext("2d");
ctx.fillStyle = "rgb(255, 0, 0)";
ctx.fillRect(0, 0, 32, 32);
canvas.toBlob((blob) => {
  const data = new DataTransfer();
  data.items.add(new File([blob], "dropped-red.png", {type: "image/png"}));
  const drop = document.getElementById("drop");
  drop.dispatchEvent(new DragEvent("dragover", {dataTransfer: data, bubbles: true, cancelable: true}));
  drop.dispatchEvent(new DragEvent("drop", {dataTransfer: data, bubbles: true, cancelable: true}));
  done(true);
}, "image/png");
"""


def test_drag_and_drop(server, browser):
    browser.get(server)
    WebDriverWait(browser, 15).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#model option"))
    browser.execute_async_script(DROP_RED_SQUARE)
    WebDriverWait(browser, 10).until(lambda d: d.find_element(By.ID, "preview").is_displayed())
    assert "dropped-red.png" in browser.find_element(By.ID, "status").text
    _classify(browser, "red, green, blue")
    _wait_for_results(browser, "zero-shot")
    top = browser.find_element(By.CSS_SELECTOR, "#predictions li .label").text
    assert top == "red"  # test-tiny knows a red square is red
    assert browser.find_element(By.ID, "caption").text == "a red square"
