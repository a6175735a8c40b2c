"""End to end in a real browser: Debian's Chromium, driven by Playwright, takes the served MUSHRA
and AB tests as two listeners at once (one by mouse, one by keyboard), then the analysis of what
they entered is logged to a registered model version.

Without /usr/bin/chromium or the playwright package these tests skip, and fail in CI (CI=true):
.ci/run installs Chromium, and a CI run without it must not pass silently. Never `playwright
install` (it downloads a browser of its own). Screenshots of each page kind go to tmp_path, and
to $LISTEN_SCREENSHOTS when set: `LISTEN_SCREENSHOTS=docs/listen pytest
tests/listen/test_browser.py` renews docs/listen/*.png.
"""
from __future__ import annotations

import os
import shutil
import threading
from functools import partial
from contextlib import contextmanager
from pathlib import Path

import pytest
import uvicorn
from listen_helpers import SCORES, register_version

from voxflow.evaluation.preference import read_key
from voxflow.listen.analyze import analyze
from voxflow.listen.app import create_app
from voxflow.listen.package import read_package
from voxflow.listen.pages import conditions
from voxflow.listen.store import open_store

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync",
                 "--autoplay-policy=no-user-gesture-required"]
LAPTOP = {"width": 1366, "height": 768}
MODEL = "voxflow-under-test"


@pytest.fixture(scope="module")
def browser():
    missing = None if CHROMIUM.is_file() else (
        f"{CHROMIUM} not found (Debian: apt-get install chromium; `make test` installs it)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing = "the playwright package is not installed (requirements.lock has it)"
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"browser tests cannot run in CI: {missing}")
        pytest.skip(missing)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@contextmanager
def served(package_dir: Path, db: Path):
    """The test served by uvicorn on a free loopback port; yields (its URL, package, store)."""
    package = read_package(package_dir)
    store, admin_token = open_store(package, db)
    server = uvicorn.Server(uvicorn.Config(create_app(package, store, admin_token),
                                           host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not server.started:
            assert thread.is_alive(), "the server did not start"
            threading.Event().wait(0.02)
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}/", package, store
    finally:
        server.should_exit = True
        thread.join(10)


def loop_region(page, start: float, end: float) -> None:
    """Loop the region from `start` to `end` seconds with the loop sliders."""
    page.fill(".loop-start", str(start))
    page.fill(".loop-end", str(end))
    assert page.locator(".loop-start-value").text_content() == f"{start:.2f}"


def screenshot(page, name: str, folder: Path) -> None:
    page.screenshot(path=folder / f"{name}.png")
    if os.environ.get("LISTEN_SCREENSHOTS"):
        target = Path(os.environ["LISTEN_SCREENSHOTS"])
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy(folder / f"{name}.png", target / f"{name}.png")


@pytest.fixture
def open_tab(browser):
    """`open_tab(url[, name])` -> a new tab with its own browser context (own localStorage), at
    the start page, or past it as listener `name`; any JavaScript error fails the test."""
    contexts, errors = [], []

    def open_(url: str, name: str | None = None):
        contexts.append(browser.new_context(viewport=LAPTOP))
        page = contexts[-1].new_page()
        page.on("pageerror", lambda error: errors.append(error))
        page.goto(url)
        page.wait_for_selector("#listener-name")
        if name is not None:
            page.fill("#listener-name", name)
            page.check("#consent")
            page.click("button[type=submit]")
        return page

    yield open_
    for context in contexts:
        context.close()
    assert not errors, f"JavaScript errors: {errors}"


def listener_of(page, package, store):
    token = page.evaluate(f"localStorage.getItem('voxflow-listen/{package.test_id}')")
    return store.listener(token)


def rate_mushra_page(page, package, store, by_keyboard: bool, before_submit=None) -> None:
    """Play the reference and every condition, set each slider to SCORES of the stimulus
    behind its letter, `before_submit(page)` if given, go on."""
    section = page.wait_for_selector("section.mushra[data-page]")
    page_id = section.get_attribute("data-page")
    page.wait_for_selector(".condition .play")
    assert page.locator(".submit").is_disabled()
    letters = conditions(package, listener_of(page, package, store), page_id)
    for letter, stimulus in letters.items():
        slider = page.get_by_label(f"Score of condition {letter}")
        if by_keyboard:
            page.keyboard.press(letter.lower())
            slider.focus()
            slider.press("Home")
            for _ in range(SCORES[stimulus] // 10):
                slider.press("PageUp")
            for _ in range(SCORES[stimulus] % 10):
                slider.press("ArrowUp")
        else:
            page.get_by_label(f"Play condition {letter}").click()
            slider.fill(str(SCORES[stimulus]))
        assert slider.input_value() == str(SCORES[stimulus])
    page.keyboard.press("r") if by_keyboard else page.click(".reference")
    if before_submit is not None:
        before_submit(page)
    page.locator(".submit").press("Enter") if by_keyboard else page.click(".submit")
    page.wait_for_selector(f"section:not([data-page='{page_id}'])")


def test_submit_waits_until_every_sound_was_played(open_tab, mushra_package, tmp_path):
    with served(mushra_package, tmp_path / "listen.sqlite") as (url, package, store):
        page = open_tab(url, "eve")
        page.wait_for_selector(".condition .play")
        for button in page.locator(".condition .play").all():
            button.click()
        assert page.locator(".submit").is_disabled()      # the reference is not played yet
        page.click(".reference")
        assert page.locator(".submit").is_enabled()


def test_a_reloaded_tab_resumes_at_the_page_not_submitted(open_tab, mushra_package, tmp_path):
    with served(mushra_package, tmp_path / "listen.sqlite") as (url, package, store):
        page = open_tab(url, "frank")
        rate_mushra_page(page, package, store, by_keyboard=False)     # the training page
        page.reload()
        page.wait_for_selector("section.mushra[data-page]")
        assert page.locator("#progress-text").text_content() == "Page 2 of 4"


def test_switching_sounds_keeps_the_playback_position(open_tab, mushra_package, tmp_path):
    with served(mushra_package, tmp_path / "listen.sqlite") as (url, package, store):
        page = open_tab(url, "grace")
        page.wait_for_selector("section.mushra[data-page]")
        page.keyboard.press("a")
        page.wait_for_function("() => player.position() > 0.1")
        # the audio clock moves on even within one task, so compare at the new sound's start time
        old, new = page.evaluate("""() => {
            const {offset, startedAt} = player.active;
            document.body.dispatchEvent(new KeyboardEvent("keydown", {key: "b", bubbles: true}));
            const {key, offset: newOffset, startedAt: newStartedAt} = player.active;
            return [{offset, startedAt}, {key, offset: newOffset, startedAt: newStartedAt}];
        }""")
        assert new["key"] == "B" and new["offset"] > 0.1
        assert new["offset"] == pytest.approx(old["offset"] + new["startedAt"] - old["startedAt"])


def test_a_selected_region_loops(open_tab, mushra_package, tmp_path):
    with served(mushra_package, tmp_path / "listen.sqlite") as (url, package, store):
        page = open_tab(url, "heidi")
        page.wait_for_selector("section.mushra[data-page]")
        loop_region(page, 0.1, 0.2)
        page.keyboard.press("c")
        page.wait_for_timeout(400)              # longer than the region: it has looped
        position, source = page.evaluate("""() => [player.position(), {
            loop: player.active.source.loop, start: player.active.source.loopStart,
            end: player.active.source.loopEnd}]""")
        assert source == {"loop": True, "start": 0.1, "end": 0.2}
        assert 0.1 <= position < 0.2


def test_two_listeners_take_the_mushra_test_and_it_is_analyzed(open_tab, mushra_package,
                                                               tracking, tmp_path):
    with served(mushra_package, tmp_path / "listen.sqlite") as (url, package, store):
        listeners = [open_tab(url, "alice"), open_tab(url, "bob")]
        shots = {0: partial(screenshot, name="training", folder=tmp_path),
                 1: lambda page: (loop_region(page, 0.1, 0.4),
                                  screenshot(page, "mushra", tmp_path))}
        for page_number in range(4):                     # training and 3 trials, interleaved
            rate_mushra_page(listeners[0], package, store, by_keyboard=False,
                             before_submit=shots.get(page_number))
            rate_mushra_page(listeners[1], package, store, by_keyboard=True)
        for page in listeners:
            page.wait_for_selector("h2:text('Thank you')")
        screenshot(listeners[0], "finish", tmp_path)
        tags = analyze(package, store, f"models:/{MODEL}/{register_version(MODEL).version}",
                       "upw", tmp_path / "analysis")
    assert float(tags["relative_mushra"]) == pytest.approx(SCORES["upw"] / 100)
    assert tags["mushra_listeners"] == "2"


def test_two_listeners_take_the_ab_test_and_it_is_analyzed(open_tab, ab_package, tracking,
                                                           tmp_path):
    """One listener prefers mlms-rand by mouse, the other has no preference, by keyboard."""
    key = read_key(ab_package.parent / "mlms-ab_key.csv").set_index("trial_id")
    with served(ab_package, tmp_path / "listen.sqlite") as (url, package, store):
        screenshot(open_tab(url), "start", tmp_path)
        listeners = [open_tab(url, "carol"), open_tab(url, "dave")]
        for page_number in range(4):
            for by_keyboard, page in enumerate(listeners):
                section = page.wait_for_selector("section.ab[data-page]")
                trial = key.loc[section.get_attribute("data-page")]
                if by_keyboard:
                    page.keyboard.press("1")
                    page.keyboard.press("2")
                    page.get_by_label("Sample 1").focus()
                    page.keyboard.press("ArrowDown")     # Sample 2
                    page.keyboard.press("ArrowDown")     # No preference
                    page.keyboard.press("Enter")
                else:
                    page.get_by_role("button", name="Play Sample 1").click()
                    page.get_by_role("button", name="Play Sample 2").click()
                    if page_number == 0:
                        screenshot(page, "ab", tmp_path)
                    page.get_by_label(f"Sample {1 if trial.system_1 == 'mlms-rand' else 2}",
                                      exact=True).check()
                    page.click(".submit")
                page.wait_for_selector(f"section:not([data-page='{trial.name}'])")
        tags = analyze(package, store, f"models:/{MODEL}/{register_version(MODEL).version}",
                       "mlms-rand", tmp_path / "analysis")
    assert float(tags["preference_percent"]) == pytest.approx(50.0)     # 4 of 8 votes
    assert tags["preference_votes"] == "8"

