"""Semantic search over the catalog: embed what changed, then rank patterns by similarity to
the query. The vectors and their SQL live in `db/embeddings.py`."""

from __future__ import annotations

import asyncio
import hashlib
import logging

from core.progress import Progress
from db import embeddings
from db.database import Database
from db.embeddings import Match, PatternText
from inference import ModelService

log = logging.getLogger(__name__)


def pattern_text(p: PatternText) -> str:
    """What a pattern is 'about', for its embedding."""
    return f"{p.name}. {p.description} Category: {p.category.replace('-', ' ')}. {p.formula}"


EMBED_CHUNK = 8  # patterns per embedding call while indexing: the progress moves in these steps


class PatternSearch:
    def __init__(self, db: Database, models: ModelService, *, progress_bars: bool = False) -> None:
        self.db = db
        self.models = models
        self.progress_bars = progress_bars
        self._indexed_for: str | None = None
        self._lock = asyncio.Lock()
        self._pgvector: bool | None = None

    async def has_pgvector(self) -> bool:
        if self._pgvector is None:
            self._pgvector = await embeddings.has_pgvector(self.db)
        return self._pgvector

    async def ensure_index(self) -> int:
        """Embed the patterns whose text changed or that have no embedding for this model."""
        model_key = self.models.embedding_model_id
        if self._indexed_for == model_key:
            return 0
        async with self._lock:
            if self._indexed_for == model_key:
                return 0
            stale: list[tuple[int, str, str]] = []
            for pattern in await embeddings.pattern_texts(self.db, model_key):
                text = pattern_text(pattern)
                digest = hashlib.sha256(text.encode()).hexdigest()
                if pattern.stored_sha256 != digest:
                    stale.append((pattern.pattern_id, text, digest))
            if stale:
                log.debug("embedding %d patterns with %s", len(stale), model_key)
                with Progress(len(stale), "embedding the catalog", bar=self.progress_bars, log=log,
                              unit="patterns") as progress:
                    for start in range(0, len(stale), EMBED_CHUNK):
                        chunk = stale[start:start + EMBED_CHUNK]
                        vectors = await self.models.embed([text for _, text, _ in chunk])
                        await embeddings.store(
                            self.db,
                            model_key,
                            [(pid, digest, vec) for (pid, _, digest), vec in zip(chunk, vectors, strict=True)],
                        )
                        progress.update(len(chunk))
            self._indexed_for = model_key
            return len(stale)

    async def search(self, text: str, first: int) -> list[Match]:
        await self.ensure_index()
        [query] = await self.models.embed([text])
        return await embeddings.nearest(
            self.db, self.models.embedding_model_id, query, first, pgvector=await self.has_pgvector()
        )
