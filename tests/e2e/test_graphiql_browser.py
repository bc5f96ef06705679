"""GraphiQL in a real headless Chromium (Debian's `chromium`, driven by Playwright), against a
live server, with every request that would leave the machine blocked: the page, its editor and
its workers must all come from the server, under its Content-Security-Policy.

A screenshot of the page after a query ran is saved outside the repository
(`$TMPDIR/codepattern-graphiql.png`)."""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.helpers import token_for
from tests.live_server import live_server

pytestmark = pytest.mark.browser

SCREENSHOT = Path(tempfile.gettempdir()) / "codepattern-graphiql.png"
LOCAL_HOSTS = {"127.0.0.1", "localhost", "[::1]", "::1"}


def chromium_path() -> str:
    path = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        message = "no chromium on this machine (`make test` installs Debian's chromium: apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(message)  # CI installs it: a missing browser there is a broken setup, not a skip
        pytest.skip(message)
    return path


@dataclass
class Browser:
    page: object
    address: str
    blocked: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # CSP violations, page errors
    sockets: list[str] = field(default_factory=list)


@pytest.fixture
async def browser(services) -> AsyncIterator[Browser]:
    from playwright.async_api import async_playwright

    executable = chromium_path()
    async with live_server(services) as address, async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=executable, args=["--disable-gpu"])
        context = await chromium.new_context(viewport={"width": 1400, "height": 900})
        page = await context.new_page()
        seen = Browser(page, address)

        async def only_local(route) -> None:
            host = urlsplit(route.request.url).hostname or ""
            if host in LOCAL_HOSTS or route.request.url.startswith(("data:", "blob:")):
                await route.continue_()
            else:
                seen.blocked.append(route.request.url)
                await route.abort("blockedbyclient")

        await context.route("**/*", only_local)
        page.on("console", lambda m: seen.problems.append(m.text)
                if m.type == "error" or "Content Security Policy" in m.text else None)
        page.on("pageerror", lambda e: seen.problems.append(f"page error: {e}"))
        page.on("websocket", lambda ws: seen.sockets.append(ws.url))
        try:
            yield seen
        finally:
            await chromium.close()


async def open_graphiql(browser: Browser) -> object:
    page = browser.page
    response = await page.goto(f"http://{browser.address}/graphql")
    assert response is not None and response.status == 200
    assert "script-src 'self'" in (await response.header_value("content-security-policy") or "")
    await page.locator(".graphiql-query-editor .monaco-editor").wait_for(timeout=20_000)
    # The default document names one operation of each kind.
    await page.get_by_text("query Catalog").wait_for()
    return page


async def replace_text(page, editor: str, text: str) -> None:
    """Type into a Monaco editor (`editor`: a CSS selector of its container), replacing it all."""
    await page.locator(f"{editor} .monaco-editor .view-lines").locator("visible=true").click()
    await page.keyboard.press("ControlOrMeta+a")
    await page.keyboard.press("Delete")
    await page.keyboard.insert_text(text)  # one input event: no bracket auto-closing half way


async def run_operation(page, name: str, document: str) -> None:
    """Type a named operation into the query editor and run it. GraphiQL takes the editor's text
    into its state a moment later; the tab's title turning to the operation's name says it has."""
    await replace_text(page, ".graphiql-query-editor", document)
    await page.locator(".graphiql-tab-active", has_text=name).wait_for()
    await page.locator(".graphiql-execute-button").click()


async def response_text(page, contains: str, wait_ms: float = 15_000) -> str:
    result = page.locator(".graphiql-response .view-lines")
    try:
        await result.get_by_text(contains).first.wait_for(timeout=wait_ms)
    except Exception:
        await page.screenshot(path=str(SCREENSHOT.with_name("codepattern-graphiql-failed.png")))
        raise
    # Monaco renders each line as its own element with non-breaking spaces.
    return (await result.inner_text()).replace("\u00a0", " ")


async def test_a_query_typed_into_graphiql_runs_offline(browser: Browser) -> None:
    page = await open_graphiql(browser)
    await run_operation(page, "TypedByHand",
                        'query TypedByHand { pattern(slug: "right-triangle") { name difficulty preview } }')
    text = await response_text(page, "Right Triangle")
    assert '"difficulty": "EASY"' in text and '"*"' in text, text
    await page.screenshot(path=str(SCREENSHOT))
    assert browser.blocked == [], f"requests tried to leave the machine: {browser.blocked}"
    assert browser.problems == [], browser.problems


async def test_the_docs_pane_shows_the_pattern_type_and_the_explorer_its_fields(browser: Browser) -> None:
    page = await open_graphiql(browser)
    await page.get_by_role("button", name=re.compile("Documentation Explorer", re.I)).click()
    docs = page.locator(".graphiql-doc-explorer")
    await docs.get_by_text("Query", exact=True).first.click()
    await docs.get_by_text("patterns", exact=True).first.wait_for()
    # patterns → PatternConnection → … ; `pattern` returns Pattern: follow it.
    await docs.get_by_role("link", name="Pattern", exact=True).first.click()
    await docs.locator(".graphiql-doc-explorer-title", has_text="Pattern").wait_for()
    for field_name in ("slug", "preview", "expectedOutput"):
        await docs.get_by_text(field_name, exact=True).first.wait_for()
    # The explorer plugin ships in the build too: it lists the root fields to click through.
    await page.get_by_role("button", name="Show GraphiQL Explorer").click()
    explorer = page.locator(".graphiql-explorer-root")
    for root_field in ("patterns", "leaderboard", "submitAttempt"):
        await explorer.get_by_text(root_field, exact=True).first.wait_for()
    assert browser.blocked == [] and browser.problems == [], (browser.blocked, browser.problems)


async def test_headers_reach_http_and_the_subscription_socket(browser: Browser, services) -> None:
    """The developer's Authorization header signs the mutation (HTTP) and the subscription's
    connection_init (graphql-transport-ws): the analysis is the caller's own, so the stream answers."""
    page = await open_graphiql(browser)
    user = str(uuid.uuid4())
    await page.get_by_role("button", name="Headers", exact=True).click()
    await replace_text(page, ".graphiql-editor-tool",
                       json.dumps({"Authorization": f"Bearer {token_for(user, display_name='Ada')}"}))
    pattern_id = await services.db.fetchval("SELECT id FROM patterns WHERE slug = 'right-triangle'")
    code = "n = int(input())\\nfor i in range(1, n + 1):\\n    print('*' * i)\\n"
    await run_operation(page, "Submit",
                        f'mutation Submit {{ submitAttempt(input: {{patternId: "{pattern_id}", code: "{code}"}}) '
                        "{ attempt { verdict } analysis { id } } }")
    text = await response_text(page, "PASSED")
    analysis_id = re.search(r'"id": "([0-9a-f-]{36})"', text)
    assert analysis_id, text
    assert await services.db.fetchval("SELECT count(*) FROM attempts WHERE learner_id = $1", user) == 1

    await run_operation(page, "Follow",
                        f'subscription Follow {{ analysisUpdates(analysisId: "{analysis_id.group(1)}") '
                        "{ status stage } }")
    text = await response_text(page, "DONE")
    assert "errors" not in text, text
    assert browser.sockets == [f"ws://{browser.address}/graphql"], browser.sockets
    assert browser.blocked == [] and browser.problems == [], (browser.blocked, browser.problems)
