"""`rlvr audit --html` in a real headless browser (Debian's chromium, driven by Playwright).

Not skipped anywhere: without /usr/bin/chromium the tests fail and say how to install it
(.ci/run installs it on a clean machine).
"""

import random
import tempfile
from contextlib import contextmanager
from pathlib import Path

import pytest

from curricula.audit import AuditLog
from curricula.base import Decision
from rlvr.benchmarks.audit import CHROMIUM_ARGS
from rlvr.cli import main

CHROMIUM = "/usr/bin/chromium"
DROPPED = "mul3x3-9349abda68"
DROP_MESSAGE = "too hard: 0 of 16 correct over 2 visit(s), upper bound 0.17 < 0.2"


@contextmanager
def browser_page():
    """A fresh headless chromium page, with every console error and page error collected."""
    assert Path(CHROMIUM).exists(), (
        f"{CHROMIUM} is missing: apt-get install -y chromium chromium-driver "
        "(the browser test is required, never skipped)"
    )
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as profile, sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        try:
            page = context.new_page()
            page.errors, page.requests = [], []
            page.on("console", lambda m: page.errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: page.errors.append(str(e)))
            page.on("request", lambda r: page.requests.append(r.url))
            yield page
        finally:
            context.close()


def frontier(pid, what, reason, message, pass_rate, skill, pool=40):
    return Decision(
        "frontier", pid, what, reason, message, {"pass_rate": pass_rate, "active_pool": pool}, {"skill": skill}, "h"
    )


def write_run(run_dir, predictions=True):
    """A run of 12 steps over 30 prompts (segments and a tail); one prompt dropped as too hard at step 6."""
    rng = random.Random(1)
    log = AuditLog(run_dir, "run-html", segment_records=50)
    prompts = [DROPPED] + [f"add2-{i:04d}" for i in range(29)]
    for step in range(12):
        for pid in prompts:
            skill = pid.split("-")[0]
            if pid == DROPPED and step == 6:
                log.add(frontier(pid, "dropped", "too_hard", DROP_MESSAGE, 0.0, skill), step, 0.0)
            elif pid == DROPPED and step > 6:
                continue
            else:
                rate = 0.0 if pid == DROPPED else round(rng.random(), 2)
                log.add(frontier(pid, "kept", "in_frontier", f"kept: {pid}", rate, skill), step, 0.0)
            if predictions and step % 3 == 0:
                log.add(
                    Decision(
                        "pass_rate_predictor",
                        pid,
                        "deferred",
                        "low_signal",
                        "deferred: predicted",
                        {"predicted_pass_rate": round(rng.random(), 3)},
                        {"skill": skill},
                        "h",
                    ),
                    step,
                    0.0,
                )
        log.flush()
    return log


def test_page_is_offline_searchable_and_shows_a_drop_in_its_timeline(tmp_path):
    write_run(tmp_path)
    report = tmp_path / "report.html"
    assert main(["audit", str(tmp_path), "--html", str(report)]) == 0
    with browser_page() as page:
        page.goto(report.as_uri())
        page.wait_for_selector("body[data-ready='1']", timeout=30_000)
        assert page.errors == []
        assert page.requests == [report.as_uri()]  # nothing fetched: the page is self-contained
        assert page.inner_text("#shown") == "30 of 30 prompts"
        page.fill("#search", "9349abda")
        page.wait_for_function("document.getElementById('shown').textContent.startsWith('1 of')")
        row = page.locator(f".row[data-prompt='{DROPPED}']")
        assert "dropped (too_hard)" in row.inner_text()
        row.click()
        timeline = page.inner_text("#timeline")
        assert f"Timeline of {DROPPED}" in timeline and DROP_MESSAGE in timeline
        drop_rows = page.locator("#timeline tr.event", has_text="too_hard")
        assert drop_rows.count() == 1 and drop_rows.first.locator("td").first.inner_text() == "6"
        assert page.locator("#calibration-svg circle").count() > 0  # predictions paired with later observations
        assert page.locator("#steps-svg .drop-bar").count() == 1
        assert page.errors == []


def test_page_without_predictions_says_so(tmp_path):
    write_run(tmp_path, predictions=False)
    report = tmp_path / "report.html"
    assert main(["audit", str(tmp_path), "--html", str(report)]) == 0
    with browser_page() as page:
        page.goto(report.as_uri())
        page.wait_for_selector("body[data-ready='1']", timeout=30_000)
        assert "No predictions in this log" in page.inner_text("#calibration")
        page.locator(".head span[data-key='rate']").click()  # sort by last pass rate, ascending
        first = page.locator(".row").first.inner_text()
        assert first.startswith(DROPPED) and page.errors == []


@pytest.mark.slow
def test_a_100k_prompt_page_keeps_only_the_visible_rows(tmp_path):
    log = AuditLog(tmp_path, "big")
    for step in range(2):
        for i in range(100_000):
            what = "dropped" if i % 97 == 0 and step == 1 else "kept"
            log.add(
                frontier(
                    f"s{i % 5}-{i:06d}",
                    what,
                    "too_hard" if what == "dropped" else "in_frontier",
                    "m",
                    (i % 100) / 100,
                    f"s{i % 5}",
                    pool=100_000 - step,
                ),
                step,
                0.0,
            )
        log.flush()
    log.close()
    report = tmp_path / "big.html"
    assert main(["audit", str(tmp_path), "--html", str(report)]) == 0
    assert report.stat().st_size < 3_000_000, report.stat().st_size  # 200k decisions, compactly embedded
    with browser_page() as page:
        page.goto(report.as_uri())
        page.wait_for_selector("body[data-ready='1']", timeout=120_000)
        assert page.inner_text("#shown") == "100000 of 100000 prompts"
        assert page.locator(".row").count() < 80  # virtualised: only the rows on screen exist
        page.evaluate("document.getElementById('viewport').scrollTop = 1e9")
        page.wait_for_function("document.querySelector('.row[data-prompt=\"s4-099999\"]') !== null")
        page.fill("#search", "too_hard")
        page.wait_for_function("document.getElementById('shown').textContent.startsWith('1031 of')")
        assert page.errors == []


def test_markup_in_ids_reasons_and_messages_is_shown_as_text(tmp_path):
    log = AuditLog(tmp_path, "run-<b>")
    nasty = "</script><script>document.title='owned'</script><!--"
    log.add(
        Decision(
            "frontier",
            "<img src=x onerror=alert(1)>",
            "dropped",
            nasty,
            nasty + " message",
            {"pass_rate": 0.0},
            {"skill": "<i>s</i>"},
            "h",
        ),
        0,
        0.0,
    )
    log.flush()
    report = tmp_path / "report.html"
    assert main(["audit", str(tmp_path), "--html", str(report)]) == 0
    with browser_page() as page:
        page.goto(report.as_uri())
        page.wait_for_selector("body[data-ready='1']", timeout=30_000)
        assert page.title() == "rlvr audit" and page.errors == [] and page.locator("img").count() == 0
        page.locator(".row").first.click()
        assert nasty + " message" in page.inner_text("#timeline")
        assert "<img src=x onerror=alert(1)>" in page.inner_text("#viewport")
