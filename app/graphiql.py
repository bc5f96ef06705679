"""GraphiQL, served by the server itself: the page at `GET /graphql` and its assets.

The assets ship inside the package (`app/static/graphiql/`): our page code (`page.js`,
`page.css`) and the vendored GraphiQL build (`vendor/`, made by `tools/graphiql/build.sh` from
npm, with the licences of everything in it). Nothing is fetched from a CDN, so GraphiQL works
offline, behind a firewall and under the page's strict Content-Security-Policy (no inline
script, no eval, nothing but this origin).

Assets are served under `/graphql/assets/<digest>/...`, the digest being a hash of every file,
so they can be cached for a year (`immutable`): a new build changes the URL. The page itself is
never cached. Compressible assets are gzipped once, in memory, on first request.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import mimetypes
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

STATIC = Path(__file__).resolve().parent / "static" / "graphiql"
ASSETS_PATH = "/graphql/assets"
YEAR = 365 * 24 * 3600
_COMPRESSIBLE = (".js", ".css", ".txt", ".json", ".ttf", ".svg")
_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
          ".txt": "text/plain; charset=utf-8", ".ttf": "font/ttf", ".json": "application/json"}

# No inline script, no eval, nothing from another origin. Inline styles stay allowed: Monaco (the
# editor) and React set element styles at run time. `connect-src 'self'` covers the same host's
# ws:// and wss:// (CSP Level 3) for subscriptions.
CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'none'",
    "script-src 'self'",
    "worker-src 'self'",
    "style-src 'self' 'unsafe-inline'",
    "font-src 'self' data:",
    "img-src 'self' data:",
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
])

# What the editor opens with: one of each kind of operation, named so the run button offers them.
DEFAULT_DOCUMENT = """\
# CodePatternMaster: learn programming with pattern programs.
#
# 1. Run Catalog (the play button, or Ctrl-Enter inside it).
# 2. Sign in: `codepattern token --name Ada` prints
#    {"Authorization": "Bearer ..."}: paste it into Headers.
# 3. Run SubmitSolution: judged in the sandbox, with feedback.
# 4. Put its analysis.id into the variables as analysisId,
#    run AnalysisUpdates: the explanation streams in live.
# The sidebar: Docs (every type), History, and the
# Explorer, which builds queries by clicking.

query Catalog {
  patterns(first: 5) {
    totalCount
    edges {
      node { id slug name difficulty preview }
    }
  }
}

mutation SubmitSolution($patternId: ID!, $code: String!) {
  submitAttempt(input: {patternId: $patternId, code: $code}) {
    attempt { verdict score output expected mismatches { row expected actual } error }
    progress { progressPercentage completed bestScore }
    analysis { id status explanation hints }
  }
}

subscription AnalysisUpdates($analysisId: ID!) {
  analysisUpdates(analysisId: $analysisId) {
    status
    stage
    textDelta
    analysis { status modelUsed explanation modelSentences { kept dropped } }
  }
}
"""

DEFAULT_VARIABLES = {
    "patternId": "1",
    "code": "n = int(input())\nfor i in range(1, n + 1):\n    print(\"*\" * i)\n",
    "analysisId": "paste analysis.id from SubmitSolution",
}
# The right-triangle pattern fits the code above; the page looks its id up (ids depend on the database).
DEFAULT_PATTERN_SLUG = "right-triangle"


@dataclass(frozen=True)
class Asset:
    content: bytes
    media_type: str
    gzipped: bytes | None


class GraphiQLAssets:
    """The page and the files it loads, read from `folder` once."""

    def __init__(self, folder: Path = STATIC) -> None:
        files = sorted(p for p in folder.rglob("*") if p.is_file())
        if not any(p.name == "graphiql.js" for p in files):
            raise FileNotFoundError(f"the GraphiQL build is missing from {folder} (tools/graphiql/build.sh)")
        digest = hashlib.sha256()
        self._files: dict[str, Path] = {}
        for path in files:
            name = path.relative_to(folder).as_posix()
            self._files[name] = path
            digest.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
        self.digest = digest.hexdigest()[:16]
        self.prefix = f"{ASSETS_PATH}/{self.digest}"
        self._cache: dict[str, Asset] = {}

    def asset(self, name: str) -> Asset | None:
        asset = self._cache.get(name)
        if asset is None:
            path = self._files.get(name)
            if path is None:
                return None
            content = path.read_bytes()
            media_type = _TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            packed = gzip.compress(content, 6, mtime=0) if path.suffix in _COMPRESSIBLE else None
            asset = self._cache[name] = Asset(content, media_type, packed)
        return asset

    async def serve(self, request: Request) -> Response:
        """`GET /graphql/assets/{digest}/{name}`: a year of caching for the current digest."""
        name = request.path_params["name"]
        asset = self.asset(name) if request.path_params["digest"] == self.digest else None
        if asset is None:
            # An old digest (the page came from a previous build) or an unknown file.
            return Response("Not found.", status_code=404, media_type="text/plain",
                            headers={"Cache-Control": "no-store"})
        headers = {"Cache-Control": f"public, max-age={YEAR}, immutable", "X-Content-Type-Options": "nosniff",
                   "Vary": "Accept-Encoding", "Cross-Origin-Resource-Policy": "same-origin"}
        body = asset.content
        if asset.gzipped is not None and "gzip" in request.headers.get("accept-encoding", ""):
            body = asset.gzipped
            headers["Content-Encoding"] = "gzip"
        return Response(body, media_type=asset.media_type, headers=headers)

    def page(self, endpoint: str = "/graphql") -> HTMLResponse:
        config = {
            "endpoint": endpoint,
            "defaultDocument": DEFAULT_DOCUMENT,
            "defaultVariables": json.dumps(DEFAULT_VARIABLES, indent=2),
            "defaultPatternSlug": DEFAULT_PATTERN_SLUG,
        }
        # A JSON data block is not executed (CSP allows it); "<" escaped so no text closes the tag.
        data = json.dumps(config).replace("<", "\\u003c")
        html = _PAGE.format(prefix=self.prefix, config=data, endpoint=endpoint)
        return HTMLResponse(html, headers={
            "Content-Security-Policy": CONTENT_SECURITY_POLICY,
            "Cache-Control": "no-cache",
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
        })


@cache
def packaged_assets() -> GraphiQLAssets:
    """The assets shipped in the package, read and hashed once per process."""
    return GraphiQLAssets(STATIC)


_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>CodePatternMaster · GraphiQL</title>
<link rel="icon" href="{prefix}/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="{prefix}/vendor/graphiql.css">
<link rel="stylesheet" href="{prefix}/page.css">
<link rel="modulepreload" href="{prefix}/vendor/graphiql.js">
<script type="application/json" id="graphiql-config">{config}</script>
<script type="module" src="{prefix}/page.js"></script>
</head>
<body>
<div id="graphiql"><p class="loading">Loading GraphiQL…</p></div>
<noscript>GraphiQL needs JavaScript. The API itself answers POST {endpoint}.</noscript>
</body>
</html>
"""
