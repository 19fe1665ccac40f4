"""Browser journeys: Chromium (Debian's, never a downloaded one) drives a live server on a demo database.

Every test here is marked ``e2e``. Without Chromium or axe-core they skip with the reason, unless
``REQUIRE_BROWSER=1`` (CI), where a missing piece fails the run instead.

The server is a real ``flask run`` subprocess on 127.0.0.1 and a free port, on a fresh SQLite file that
``flask db upgrade`` and ``flask seed-demo`` prepare: the same commands a person runs.
"""

from __future__ import annotations

import json
import os
import re
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import ConsoleMessage, Page, ViewportSize, expect

from portal.demo import DEMO_PASSWORD

E2E_DIR = Path(__file__).resolve().parent
ROOT = E2E_DIR.parents[1]
AXE_JS = E2E_DIR / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOTS = E2E_DIR / "screenshots"
CHROMIUM = os.environ.get("CHROMIUM_PATH") or "/usr/bin/chromium"
REQUIRE_BROWSER = os.environ.get("REQUIRE_BROWSER") == "1"
SERVER_START_TIMEOUT = 30.0
MOBILE: ViewportSize = {"width": 390, "height": 844}


USERS = {
    "admin": "admin@northwind.example",
    "rita": "rita.rep@northwind.example",
    "sam": "sam.rep@northwind.example",
    "buyer": "buyer@acme-hardware.example",
}


def _missing_browser_pieces() -> str | None:
    if not Path(CHROMIUM).is_file() or not os.access(CHROMIUM, os.X_OK):
        return f"Chromium not found at {CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)"
    if not AXE_JS.is_file():
        return f"axe-core missing at {AXE_JS.relative_to(ROOT)} (run `make e2e-deps`)"
    return None


def pytest_collection_modifyitems(config, items) -> None:
    # Hooks of a sub-directory conftest see every collected item: only touch ours.
    ours = [item for item in items if E2E_DIR in item.path.parents]
    problem = _missing_browser_pieces()
    for item in ours:
        item.add_marker(pytest.mark.e2e)
        if problem and not REQUIRE_BROWSER:
            item.add_marker(pytest.mark.skip(reason=problem))


@pytest.fixture(scope="session")
def _browser_pieces() -> None:
    """With REQUIRE_BROWSER=1 a missing piece is an error, not a skip (see pytest_collection_modifyitems)."""
    problem = _missing_browser_pieces()
    if problem:
        if REQUIRE_BROWSER:
            pytest.fail(f"{problem} (required by REQUIRE_BROWSER=1)")
        pytest.skip(problem)


# --- browser ----------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser_type_launch_args(_browser_pieces) -> dict:
    """Debian's Chromium, headless, quiet: no sandbox (containers), no GPU, no phoning home."""
    return {
        "executable_path": CHROMIUM,
        "headless": True,
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--disable-quic",
        ],
    }


@pytest.fixture(scope="session")
def base_url(live_server: LiveServer) -> str:
    """pytest-playwright passes this to every context, so ``page.goto("/login")`` works."""
    return live_server.url


# --- live server ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LiveServer:
    url: str
    database: Path

    def query(self, sql: str, *params) -> list[tuple]:
        """Read the server's database directly (read-only), to pick test data the UI must (not) show."""
        with sqlite3.connect(f"file:{self.database}?mode=ro", uri=True) as conn:
            return conn.execute(sql, params).fetchall()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _server_env(database: Path) -> dict[str, str]:
    return {
        **os.environ,
        "FLASK_APP": "wsgi.py",
        "DATABASE_URL": f"sqlite:///{database}",
        "PORTAL_ENV": "testing",
        "SECRET_KEY": "e2e-secret-key-long-enough-for-any-check-0123456789abcdef",
        # Cheap hashing keeps logins fast; production uses the defaults.
        "ARGON2_TIME_COST": "1",
        "ARGON2_MEMORY_KIB": "1024",
        "PYTHONUNBUFFERED": "1",
    }


def _flask(*args: str) -> list[str]:
    return [sys.executable, "-m", "flask", *args]


def _run(cmd: list[str], env: dict[str, str]) -> None:
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        pytest.fail(f"`{' '.join(cmd[2:])}` failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")


def _wait_until_healthy(url: str, server: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"the server exited with {server.returncode}:\n{log.read_text()[-4000:]}")
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=2) as response:  # noqa: S310 - our URL
                if response.status == 200 and json.load(response).get("status") == "ok":
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.1)
    pytest.fail(f"no answer from /healthz within {SERVER_START_TIMEOUT}s:\n{log.read_text()[-4000:]}")


@pytest.fixture(scope="session")
def live_server(tmp_path_factory, _browser_pieces) -> Iterator[LiveServer]:
    """`flask run` on a fresh, migrated, demo-seeded SQLite database; stopped at the end of the session."""
    folder = tmp_path_factory.mktemp("e2e")
    database = folder / "portal-e2e.db"
    env = _server_env(database)
    _run(_flask("db", "upgrade"), env)
    _run(_flask("seed-demo"), env)

    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = folder / "server.log"
    with log.open("w") as out:
        server = subprocess.Popen(_flask("run", "--no-reload", "--host", "127.0.0.1", "--port", str(port)),
                                  cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        _wait_until_healthy(url, server, log)
        yield LiveServer(url=url, database=database)
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


# --- pages ----------------------------------------------------------------------------------------


@pytest.fixture
def open_page(new_context) -> Iterator[Callable[..., Page]]:
    """``open_page()`` / ``open_page(mobile=True)``: a page in a fresh context (its own cookies).

    The test fails if any page breaks the CSP (an inline script or style the browser refused, which
    would break the UI in production) or throws an uncaught JavaScript error.
    """
    problems: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error" and "Content Security Policy" in message.text:
            problems.append(f"CSP: {message.text}")

    def _open(mobile: bool = False) -> Page:
        options = {"viewport": MOBILE, "is_mobile": True, "has_touch": True} if mobile else {}
        page = new_context(**options).new_page()
        page.on("console", on_console)
        page.on("pageerror", lambda error: problems.append(f"JavaScript error on {page.url}: {error}"))
        return page

    yield _open
    assert not problems, "the browser reported problems:\n" + "\n".join(problems)


# --- helpers ----------------------------------------------------------------------------------------


def login(page: Page, email: str, password: str = DEMO_PASSWORD) -> None:
    """Sign in through the form, finding the fields by their labels as a person would."""
    page.goto("/login")
    page.get_by_label("Email", exact=True).fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page).not_to_have_url(re.compile(r"/login"))


def logout(page: Page) -> None:
    toggler = page.get_by_role("button", name="Toggle navigation")
    if toggler.is_visible():  # narrow screens: the menu is collapsed
        toggler.click()
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in", level=1)).to_be_visible()


def check_a11y(page: Page, context: str = "") -> None:
    """Run axe-core on the page and fail on every serious or critical violation, listed all at once.

    axe is evaluated through the DevTools protocol rather than added as a <script> tag: the app's CSP
    (``script-src 'self'``) rightly blocks inline scripts, and evaluating this way needs no
    ``bypass_csp`` context, so the pages are tested under the same CSP as in production.
    """
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(AXE_JS.read_text(encoding="utf-8") + "\n;undefined")
    results = page.evaluate("""async () => {
        const r = await axe.run(document, {resultTypes: ['violations']});
        return r.violations.map(v => ({
            id: v.id, impact: v.impact, help: v.help,
            targets: v.nodes.slice(0, 3).map(n => n.target.join(' ')),
            count: v.nodes.length,
            summary: v.nodes[0].failureSummary || '',
        }));
    }""")
    serious = [v for v in results if v["impact"] in ("serious", "critical")]
    lines = [f"- {v['id']} ({v['impact']}, {v['count']} node(s)): {v['help']} -> {v['targets']}\n"
             f"  {' '.join(v['summary'].splitlines()[:2])}" for v in serious]
    where = context or page.url
    assert not serious, f"{len(serious)} serious/critical axe violation(s) on {where}:\n" + "\n".join(lines)


def screenshot(page: Page, name: str, full_page: bool = True) -> Path:
    """A PNG under tests/e2e/screenshots/ (git-ignored) for people to look at."""
    SCREENSHOTS.mkdir(exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path


def assert_no_horizontal_scroll(page: Page, width: int = MOBILE["width"]) -> None:
    scroll_width = page.evaluate("() => document.documentElement.scrollWidth")
    assert scroll_width <= width, f"{page.url} scrolls sideways at {width}px: scrollWidth={scroll_width}"
