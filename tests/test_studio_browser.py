"""The studio in a real browser (headless Chromium via Selenium, the driver from Debian's package).

Skipped, with the reason, when Chromium or chromedriver is missing, unless MONETGAN_REQUIRE_BROWSER=1
(CI sets it): then a missing browser fails, so a skip is never counted as a pass there.
"""

from __future__ import annotations

import base64
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import TINY, write_paintings

# Debian's packages; MONETGAN_CHROMIUM / MONETGAN_CHROMEDRIVER point elsewhere (nothing is downloaded).
CHROMIUM = os.environ.get("MONETGAN_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = os.environ.get("MONETGAN_CHROMEDRIVER") or shutil.which("chromedriver") or "/usr/bin/chromedriver"


def _browser_missing() -> str | None:
    try:
        import selenium  # noqa: F401
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        return f"{exc.name} is not installed (pip install -e '.[test]')"
    for path in (CHROMIUM, CHROMEDRIVER):
        if not Path(path).exists():
            return f"{path} not found (apt-get install chromium chromium-driver)"
    return None


def _require_browser() -> None:
    reason = _browser_missing()
    if reason is None:
        return
    if os.environ.get("MONETGAN_REQUIRE_BROWSER") == "1":
        pytest.fail(f"MONETGAN_REQUIRE_BROWSER=1 but the browser tests cannot run: {reason}")
    pytest.skip(f"browser tests need headless Chromium: {reason}")


@pytest.fixture(scope="module")
def driver(tmp_path_factory):
    _require_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--window-size=1280,900",
                 f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        options.add_argument(flag)
    browser = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    browser.set_script_timeout(60)
    yield browser
    browser.quit()


@pytest.fixture(scope="module")
def live_run(tmp_path_factory):
    """A tiny training run advancing in a subprocess while the tests look at it (stopped at the end)."""
    _require_browser()
    root = tmp_path_factory.mktemp("live")
    write_paintings(root / "data")
    run = root / "run"
    items = [f"{k}={v}" for k, v in TINY.items()] + ["sample_every=10", "checkpoint_every=100000"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "monetgan", "train", "--data", str(root / "data"), "--run", str(run),
                             "--preset", "wgan-gp-64", "--steps", "20000", "--quiet", "--set", *items],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.time() + 120
    while not (run / "log.jsonl").exists():
        assert proc.poll() is None, proc.stderr.read()
        assert time.time() < deadline, "the training run wrote no log in 120 s"
        time.sleep(0.2)
    yield run
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture(scope="module")
def studio(tiny_run, live_run):
    """Painters: 0 bundled, 1 tiny_run, 2 the live run. Runs: 0 tiny_run, 1 the live run."""
    from monetgan.studio.app import create_app
    from monetgan.studio.server import running_server, studio_parts

    painters, runs, stylizers = studio_parts([tiny_run[0], live_run])
    with running_server(create_app(painters, runs, stylizers)) as url:
        yield url


def wait_for(driver, script: str, timeout: float = 60, *args):
    """Poll a JS expression until it is truthy; returns its value."""
    deadline = time.time() + timeout
    while True:
        value = driver.execute_script(script, *args)
        if value:
            return value
        assert time.time() < deadline, f"timed out waiting for: {script}"
        time.sleep(0.1)


# Draw an <img> (or Image) on a canvas and return its RGBA pixels as base64: what the page shows.
PIXELS_JS = """
const c = document.createElement('canvas');
c.width = img.naturalWidth; c.height = img.naturalHeight;
const ctx = c.getContext('2d');
ctx.drawImage(img, 0, 0);
const data = ctx.getImageData(0, 0, c.width, c.height).data;
let s = ''; for (let i = 0; i < data.length; i += 8192) s += String.fromCharCode.apply(null, data.subarray(i, i + 8192));
return [c.width, c.height, btoa(s)];
"""

# The bytes behind an image's src, fetched by the page itself.
FETCH_JS = """
const done = arguments[arguments.length - 1];
fetch(arguments[0]).then(r => r.arrayBuffer()).then(b => {
  const u = new Uint8Array(b); let s = '';
  for (let i = 0; i < u.length; i += 8192) s += String.fromCharCode.apply(null, u.subarray(i, i + 8192));
  done(btoa(s));
});
"""


def shown_pixels(driver, element_or_js) -> np.ndarray:
    """Pixels of an <img> element, or of the image a JS expression names (e.g. one not in the DOM)."""
    if isinstance(element_or_js, str):
        width, height, data = driver.execute_script(f"const img = {element_or_js};" + PIXELS_JS)
    else:
        width, height, data = driver.execute_script("const img = arguments[0];" + PIXELS_JS, element_or_js)
    return np.frombuffer(base64.b64decode(data), np.uint8).reshape(height, width, 4)[..., :3]


def painted(seed: int, tmp_path: Path) -> tuple[np.ndarray, bytes]:
    from monetgan.painting.paint import paint

    [path] = paint(num=1, seed=seed, out=tmp_path / f"paint{seed}")
    return np.asarray(Image.open(path).convert("RGB")), path.read_bytes()


def test_gallery_shows_the_paintings_monetgan_paint_writes(driver, studio, tmp_path):
    driver.get(studio + "/")
    tile = '#grid .tile[data-seed="2"] img'
    wait_for(driver, f"const i = document.querySelector('{tile}'); return i && i.complete && i.naturalWidth > 0;")
    img = driver.find_element("css selector", tile)
    expected_pixels, expected_bytes = painted(2, tmp_path)
    fetched = base64.b64decode(driver.execute_async_script(FETCH_JS, img.get_attribute("src")))
    assert fetched == expected_bytes
    assert np.array_equal(shown_pixels(driver, img), expected_pixels)
    assert "seed 2" in driver.find_element("css selector", '#grid .tile[data-seed="2"]').text
    # Infinite scroll: reaching the bottom adds paintings.
    before = driver.execute_script("return document.querySelectorAll('#grid .tile').length")
    driver.execute_script("window.scrollTo(0, document.body.scrollHeight)")
    wait_for(driver, "return document.querySelectorAll('#grid .tile').length > arguments[0]", 30, before)
    # A click shows it large, with a download link for the PNG.
    img.click()
    wait_for(driver, "return !document.querySelector('#lightbox').hidden")
    link = driver.find_element("css selector", "#lightbox-download")
    assert link.get_attribute("href").endswith("/api/paint/0/2.png?download=1")
    assert link.get_attribute("download") == "seed000002.png"


def test_walk_between_two_selected_paintings_plays_from_one_to_the_other(driver, studio, tmp_path):
    driver.get(studio + "/")
    for seed in (1, 4):
        wait_for(driver, f"return document.querySelector('#grid .tile[data-seed=\"{seed}\"] input')")
        driver.find_element("css selector", f'#grid .tile[data-seed="{seed}"] input').click()
    driver.execute_script("document.querySelector('#walk-frames').value = 12")
    driver.find_element("css selector", "#walk-selected").click()
    wait_for(driver, "return document.querySelector('#walk').classList.contains('active')")
    wait_for(driver, "return window.studioWalk.loaded === 12", 120)
    assert driver.find_element("css selector", "#walk-seeds").get_attribute("value") == "1,4"
    first = shown_pixels(driver, "window.studioWalk.images[0]")
    last = shown_pixels(driver, "window.studioWalk.images[11]")
    assert np.array_equal(first, painted(1, tmp_path)[0])
    assert np.array_equal(last, painted(4, tmp_path)[0])
    # Play: the shown frame advances by itself; the scrubber follows it.
    driver.find_element("css selector", "#walk-play").click()
    seen = set()
    deadline = time.time() + 10
    while len(seen) < 4 and time.time() < deadline:
        seen.add(driver.execute_script("return document.querySelector('#walk-scrub').value"))
        time.sleep(0.05)
    assert len(seen) >= 4
    driver.find_element("css selector", "#walk-play").click()  # pause
    # Scrub to the end: the picture shown is the last frame.
    driver.execute_script("const s = document.querySelector('#walk-scrub'); s.value = 11;"
                          "s.dispatchEvent(new Event('input'));")
    wait_for(driver, "return document.querySelector('#walk-image').src === window.studioWalk.images[11].src")
    href = driver.find_element("css selector", "#walk-mp4").get_attribute("href")
    assert "/api/walk/0/walk.mp4?seeds=1%2C4&frames=12&mode=slerp" in href


def test_dashboard_follows_a_training_run_without_reloading(driver, studio, live_run):
    driver.get(studio + "/?tab=run-1")
    load_id = driver.execute_script("return window.studioLoadId")
    step_js = "const b = document.querySelector('#run-1 .latest-step'); return b && /^[0-9]+$/.test(b.textContent) && Number(b.textContent);"
    first = wait_for(driver, step_js, 60)
    deadline = time.time() + 90
    while (now := driver.execute_script(step_js)) == first:
        assert time.time() < deadline, f"the dashboard stayed at step {first}"
        time.sleep(0.2)
    assert now > first
    assert driver.execute_script("return window.studioLoadId") == load_id
    assert driver.execute_script("return performance.getEntriesByType('navigation').length") == 1
    assert driver.find_element("css selector", "#run-1 .run-state").text == "training"
    # The newest fixed-latent frame is shown, and it is one the run wrote.
    wait_for(driver, "const i = document.querySelector('#run-1 .frame'); return i.complete && i.naturalWidth > 0;", 60)
    src = driver.find_element("css selector", "#run-1 .frame").get_attribute("src")
    assert (live_run / "frames" / src.rsplit("/", 1)[1]).exists()


def test_traversal_urls_return_404_in_the_browser(driver, studio):
    driver.get(studio + "/")
    status_js = ("const done = arguments[arguments.length - 1];"
                 "fetch(arguments[0]).then(async r => done([r.status, await r.text()]));")
    for path in ("/runs/0/files/%2e%2e%2f%2e%2e%2fdata%2fp000.png", "/runs/0/files/..%2f..%2fdata/p001.png",
                 "/runs/0/files/%252e%252e%252fconfig.json", "/runs/0/files/checkpoints/step-000002/generator.safetensors"):
        status, body = driver.execute_async_script(status_js, path)
        assert status in (403, 404), (path, status)
        assert "PNG" not in body
    status, _ = driver.execute_async_script(status_js, "/runs/0/files/config.json")
    assert status == 200  # the same route does serve what is inside


def test_a_chosen_photo_is_painted_as_monetgan_stylize_paints_it_and_a_slider_paints_again(driver, studio, tmp_path):
    import monetgan

    photo = write_paintings(tmp_path / "photo", count=1, size=(240, 160))[0]

    def stylized(**settings) -> np.ndarray:
        [path] = monetgan.stylize(photo, tmp_path / f"out{len(settings)}", show_progress=False, **settings).written
        return np.asarray(Image.open(path).convert("RGB"))

    driver.get(studio + "/?tab=stylize")
    wait_for(driver, "return window.studioStylize.ready")
    driver.find_element("css selector", "#stylize-file").send_keys(str(photo))
    wait_for(driver, "return window.studioStylize.painted === 1", 120)
    after = driver.find_element("css selector", "#stylize-after")
    assert np.array_equal(shown_pixels(driver, after), stylized())  # the card's settings, 256x171
    link = driver.find_element("css selector", "#stylize-download")
    assert link.get_attribute("download") == photo.stem + "-monet.png" and "disabled" not in link.get_attribute("class")
    # The strength slider paints again, at the strength it shows.
    driver.execute_script("const s = document.querySelector('#stylize-strength'); s.value = 0.5;"
                          "s.dispatchEvent(new Event('change'));")
    wait_for(driver, "return window.studioStylize.painted === 2", 120)
    assert driver.find_element("css selector", "#stylize-strength-value").text == "0.50"
    assert np.array_equal(shown_pixels(driver, after), stylized(strength=0.5))
    # A file that is not an image: one line saying so, and the last painting stays.
    bad = tmp_path / "notes.jpg"
    bad.write_bytes(b"these are notes, not a photo")
    driver.find_element("css selector", "#stylize-file").send_keys(str(bad))
    wait_for(driver, "return document.querySelector('#stylize-status').textContent.includes('cannot be used')", 60)


def test_choosing_a_runs_stylizer_paints_with_it_and_its_own_settings(driver, cut_run, tmp_path):
    import monetgan
    from monetgan.studio.app import create_app
    from monetgan.studio.server import running_server, studio_parts

    root, _ = cut_run
    photo = write_paintings(tmp_path / "photo", count=1, size=(90, 60), seed=7)[0]
    [written] = monetgan.stylize(photo, tmp_path / "out", run=root / "run", show_progress=False).written
    expected = np.asarray(Image.open(written).convert("RGB"))
    painters, runs, stylizers = studio_parts([root / "run"])
    with running_server(create_app(painters, runs, stylizers)) as url:
        driver.get(url + "/?tab=stylize")
        wait_for(driver, "return window.studioStylize.ready")
        assert driver.find_element("css selector", "#stylize-chroma-value").text == "1.00"  # the bundled card's
        driver.find_element("css selector", "#stylize-file").send_keys(str(photo))
        wait_for(driver, "return window.studioStylize.painted === 1", 120)
        driver.execute_script("const s = document.querySelector('#stylizer'); s.value = '1';"
                              "s.dispatchEvent(new Event('change'));")
        wait_for(driver, "return window.studioStylize.painted === 2", 120)  # choosing it paints again
        assert driver.find_element("css selector", "#stylize-chroma-value").text == "0.00"  # the run's own
        assert np.array_equal(shown_pixels(driver, driver.find_element("css selector", "#stylize-after")), expected)
        assert "run (latest checkpoint)" in driver.find_element("css selector", "#stylize-status").text
