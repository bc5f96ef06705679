"""Load the pattern catalog into the database, idempotently (upsert by slug)."""

from __future__ import annotations

import logging
from typing import Literal

import catalog

from .database import Database
from .migrate import Migration, migrate

SeedMode = Literal["never", "if-empty", "always"]

log = logging.getLogger(__name__)


async def seed_catalog(db: Database) -> int:
    """Insert new patterns and refresh changed ones; returns how many catalog patterns there are."""
    records = [
        (
            p.slug,
            p.name,
            p.category,
            p.difficulty,
            p.description,
            p.rows,
            p.min_size,
            p.max_size,
            p.formula,
            p.loops,
            p.conditions,
            p.reference,
            list(catalog.preview(p)),
            position,
        )
        for position, p in enumerate(catalog.PATTERNS, start=1)
    ]
    async with db.transaction() as conn:
        await conn.executemany(
            """
            INSERT INTO patterns (slug, name, category, difficulty, description, default_size, min_size,
                                  max_size, formula, loops, conditions, reference_solution, preview, position)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
            ON CONFLICT (slug) DO UPDATE SET
                name = excluded.name, category = excluded.category, difficulty = excluded.difficulty,
                description = excluded.description, default_size = excluded.default_size,
                min_size = excluded.min_size, max_size = excluded.max_size, formula = excluded.formula,
                loops = excluded.loops, conditions = excluded.conditions,
                reference_solution = excluded.reference_solution, preview = excluded.preview,
                position = excluded.position, updated_at = now()
            WHERE (patterns.name, patterns.category, patterns.difficulty, patterns.description,
                   patterns.default_size, patterns.min_size, patterns.max_size, patterns.formula,
                   patterns.loops, patterns.conditions, patterns.reference_solution, patterns.preview,
                   patterns.position)
                IS DISTINCT FROM
                  (excluded.name, excluded.category, excluded.difficulty, excluded.description,
                   excluded.default_size, excluded.min_size, excluded.max_size, excluded.formula,
                   excluded.loops, excluded.conditions, excluded.reference_solution, excluded.preview,
                   excluded.position)
            """,
            records,
        )
        await conn.execute(
            "INSERT INTO pattern_stats (pattern_id) SELECT id FROM patterns ON CONFLICT DO NOTHING"
        )
    log.info("catalog seeded: %d patterns", len(records))
    return len(records)


async def catalog_is_empty(db: Database) -> bool:
    return not await db.fetchval("SELECT EXISTS (SELECT 1 FROM patterns)")


async def migrate_and_seed(db: Database, seed: SeedMode = "if-empty") -> list[Migration]:
    """Bring a connected database up to date: pending migrations, then the catalog. Returns the
    migrations applied by this call. Every entry point (server, CLI, tests, benchmarks) uses this."""
    async with db.pool.acquire() as conn:
        applied = await migrate(conn)
    if seed == "always" or (seed == "if-empty" and await catalog_is_empty(db)):
        await seed_catalog(db)
    return applied
