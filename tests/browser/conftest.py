"""A real headless Chromium (Debian's package, driven by Playwright) for the docs-site tests.

Playwright's own browser download does not work here, so Playwright drives /usr/bin/chromium. When the
browser is missing, the test setup installs Debian's package (as root); otherwise the tests fail with
the command to run: a browser test never skips."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM_FLAGS = [  # the machine's network is closed: background connections would only fail noisily
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(
    os.environ.get("KPIFRAME_TEST_ARTIFACTS", Path(__file__).resolve().parents[2] / "target" / "test-artifacts")
)


def chromium_path() -> str:
    """Debian's Chromium, installed first when it is missing and we may install packages."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        install = ["apt-get", "install", "-y", "-q", "chromium"]
        if subprocess.run(install, env=env, capture_output=True).returncode != 0:
            subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True)
            subprocess.run(install, env=env, capture_output=True)
        found = shutil.which("chromium")
    if not found:
        pytest.fail("no Chromium: install Debian's package with `sudo apt-get install chromium`", pytrace=False)
    return found


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Per module: Playwright's sync API keeps an event loop running while it is open, and other tests
    (the HTTP API's) start their own."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_FLAGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """Screenshots are kept here after the run (CI can upload the folder)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
