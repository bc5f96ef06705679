"""The GraphiQL page and its packaged assets over HTTP: cache headers, CSP, nothing from elsewhere."""

from __future__ import annotations

import re

from app.graphiql import ASSETS_PATH, STATIC, packaged_assets


async def test_the_page_loads_only_versioned_assets_of_this_server(client) -> None:
    page = await client.get("/graphql", headers={"Accept": "text/html"})
    assert page.status_code == 200 and page.headers["cache-control"] == "no-cache"
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "default-src 'none'" in csp and "unsafe-eval" not in csp
    # No inline script: only the JSON data block, and a module loaded from this server.
    scripts = re.findall(r"<script([^>]*)>", page.text)
    assert all('type="application/json"' in s or "src=" in s for s in scripts), scripts
    urls = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert urls and all(u.startswith(f"{ASSETS_PATH}/{packaged_assets().digest}/") for u in urls), urls
    assert "http://" not in page.text and "https://" not in page.text
    for operation in ("query Catalog", "mutation SubmitSolution", "subscription AnalysisUpdates"):
        assert operation in page.text


async def test_assets_are_cached_for_a_year_and_gzipped(client) -> None:
    prefix = packaged_assets().prefix
    plain = await client.get(f"{prefix}/vendor/graphiql.js", headers={"Accept-Encoding": "identity"})
    assert plain.status_code == 200 and plain.headers["content-type"].startswith("text/javascript")
    assert plain.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert plain.content == (STATIC / "vendor" / "graphiql.js").read_bytes()
    packed = await client.get(f"{prefix}/vendor/graphiql.js", headers={"Accept-Encoding": "gzip"})
    assert packed.headers["content-encoding"] == "gzip"
    assert int(packed.headers["content-length"]) < len(plain.content) / 3
    assert packed.content == plain.content  # httpx decodes it


async def test_an_old_digest_or_an_unknown_file_is_404(client) -> None:
    prefix = packaged_assets().prefix
    assert (await client.get(f"{ASSETS_PATH}/0123456789abcdef/vendor/graphiql.js")).status_code == 404
    assert (await client.get(f"{prefix}/vendor/nope.js")).status_code == 404
    # Only the files of the build are served: a path out of the folder names none of them.
    assert (await client.get(f"{prefix}/vendor/%2e%2e/%2e%2e/graphiql.py")).status_code == 404


async def test_the_licences_of_the_vendored_build_ship_with_it(client) -> None:
    listing = (await client.get(f"{packaged_assets().prefix}/vendor/licenses/PACKAGES.txt")).text
    for package in ("graphiql ", "@graphiql/plugin-explorer ", "react ", "monaco-editor ", "graphql-ws "):
        assert package in listing
    licences = {p.name for p in (STATIC / "vendor" / "licenses").iterdir()}
    assert any(name.startswith("graphiql-") for name in licences) and len(licences) > 20


async def test_graphiql_off_serves_neither_page_nor_assets(services) -> None:
    import httpx

    from app.server import create_app

    settings = services.settings.model_copy(update={"graphiql": False})
    transport = httpx.ASGITransport(app=create_app(settings, services))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        page = await client.get("/graphql", headers={"Accept": "text/html"})
        assert "graphiql-config" not in page.text
        assert (await client.get(f"{packaged_assets().prefix}/page.js")).status_code == 404
