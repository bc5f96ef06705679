"""Semantic search over the catalog: pattern embeddings kept in Postgres, ranked by cosine
similarity with pgvector when the extension is there, in Python otherwise."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from dataclasses import dataclass

from db.database import Database

from .models import ModelService

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Match:
    pattern_id: int
    score: float


def pattern_text(row: object) -> str:
    """What a pattern is 'about', for its embedding."""
    return f"{row['name']}. {row['description']} Category: {row['category'].replace('-', ' ')}. {row['formula']}"


class PatternSearch:
    def __init__(self, db: Database, models: ModelService) -> None:
        self.db = db
        self.models = models
        self._indexed_for: str | None = None
        self._lock = asyncio.Lock()
        self._pgvector: bool | None = None

    async def has_pgvector(self) -> bool:
        if self._pgvector is None:
            self._pgvector = bool(await self.db.fetchval("SELECT to_regtype('vector') IS NOT NULL"))
        return self._pgvector

    async def ensure_index(self) -> int:
        """Embed the patterns whose text changed or that have no embedding for this model."""
        model_key = self.models.embedding_model_id
        if self._indexed_for == model_key:
            return 0
        async with self._lock:
            if self._indexed_for == model_key:
                return 0
            rows = await self.db.fetch(
                """
                SELECT p.id, p.name, p.description, p.category, p.formula, e.content_sha256
                FROM patterns p LEFT JOIN pattern_embeddings e ON e.pattern_id = p.id AND e.model_key = $1
                """,
                model_key,
            )
            stale = []
            for row in rows:
                text = pattern_text(row)
                digest = hashlib.sha256(text.encode()).hexdigest()
                if row["content_sha256"] != digest:
                    stale.append((row["id"], text, digest))
            if stale:
                vectors = await self.models.embed([text for _, text, _ in stale])
                await self.db.pool.executemany(
                    """
                    INSERT INTO pattern_embeddings (pattern_id, model_key, content_sha256, embedding)
                    VALUES ($1, $2, $3, $4)
                    ON CONFLICT (model_key, pattern_id) DO UPDATE
                    SET content_sha256 = excluded.content_sha256, embedding = excluded.embedding, created_at = now()
                    """,
                    [(pid, model_key, digest, vec) for (pid, _, digest), vec in zip(stale, vectors, strict=True)],
                )
                log.info("embedded %d patterns with %s", len(stale), model_key)
            self._indexed_for = model_key
            return len(stale)

    async def search(self, text: str, first: int) -> list[Match]:
        await self.ensure_index()
        [query] = await self.models.embed([text])
        model_key = self.models.embedding_model_id
        if await self.has_pgvector():
            rows = await self.db.fetch(
                """
                SELECT pattern_id, 1 - (embedding::vector <=> $1::real[]::vector) AS score
                FROM pattern_embeddings WHERE model_key = $2
                ORDER BY embedding::vector <=> $1::real[]::vector
                LIMIT $3
                """,
                query, model_key, first,
            )
            return [Match(r["pattern_id"], float(r["score"])) for r in rows]
        rows = await self.db.fetch(
            "SELECT pattern_id, embedding FROM pattern_embeddings WHERE model_key = $1", model_key
        )
        return rank_in_python(query, [(r["pattern_id"], r["embedding"]) for r in rows], first)


def rank_in_python(query: list[float], candidates: list[tuple[int, list[float]]], first: int) -> list[Match]:
    """Cosine similarity without pgvector; vectors are L2-normalised but normalise anyway."""
    def norm(v: list[float]) -> float:
        return sum(x * x for x in v) ** 0.5 or 1.0

    q_norm = norm(query)
    scored = [
        Match(pid, sum(a * b for a, b in zip(query, vec, strict=True)) / (q_norm * norm(vec)))
        for pid, vec in candidates
    ]
    scored.sort(key=lambda m: (-m.score, m.pattern_id))
    return scored[:first]
