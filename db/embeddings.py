"""The `pattern_embeddings` table: one vector per (pattern, embedding model), and the nearest
patterns to a query vector (pgvector when the extension is there, Python otherwise)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .database import Database


@dataclass(frozen=True, slots=True)
class PatternText:
    """What a pattern is 'about', and the digest of the text its stored embedding was made from."""

    pattern_id: int
    name: str
    description: str
    category: str
    formula: str
    stored_sha256: str | None  # None: no embedding for this model yet


@dataclass(frozen=True, slots=True)
class Match:
    pattern_id: int
    score: float


async def has_pgvector(db: Database) -> bool:
    return bool(await db.fetchval("SELECT to_regtype('vector') IS NOT NULL"))


async def pattern_texts(db: Database, model_key: str) -> list[PatternText]:
    rows = await db.fetch(
        """
        SELECT p.id, p.name, p.description, p.category, p.formula, e.content_sha256
        FROM patterns p LEFT JOIN pattern_embeddings e ON e.pattern_id = p.id AND e.model_key = $1
        """,
        model_key,
    )
    return [
        PatternText(r["id"], r["name"], r["description"], r["category"], r["formula"], r["content_sha256"])
        for r in rows
    ]


async def store(db: Database, model_key: str, rows: Sequence[tuple[int, str, list[float]]]) -> None:
    """Upsert (pattern_id, content_sha256, vector) rows for one model."""
    await db.executemany(
        """
        INSERT INTO pattern_embeddings (pattern_id, model_key, content_sha256, embedding)
        VALUES ($1, $2, $3, $4)
        ON CONFLICT (model_key, pattern_id) DO UPDATE
        SET content_sha256 = excluded.content_sha256, embedding = excluded.embedding, created_at = now()
        """,
        [(pattern_id, model_key, digest, vector) for pattern_id, digest, vector in rows],
    )


async def nearest(db: Database, model_key: str, query: list[float], first: int, *, pgvector: bool) -> list[Match]:
    """The `first` patterns most similar to `query` (cosine), best first."""
    if pgvector:
        rows = await db.fetch(
            """
            SELECT pattern_id, 1 - (embedding::vector <=> $1::real[]::vector) AS score
            FROM pattern_embeddings WHERE model_key = $2
            ORDER BY embedding::vector <=> $1::real[]::vector
            LIMIT $3
            """,
            query, model_key, first,
        )
        return [Match(r["pattern_id"], float(r["score"])) for r in rows]
    rows = await db.fetch("SELECT pattern_id, embedding FROM pattern_embeddings WHERE model_key = $1", model_key)
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
