"""Models found down, shared by every process of the cluster (see `agents_config.models`).

A worker whose model call timed out or failed writes the model's row; the others read the
table at most every few seconds, so a provider outage found by one worker is skipped by all
of them, without a database read per answer. The clock is the wall clock, shared by the
processes (as for heartbeats).
"""

from __future__ import annotations

import time

from storage.db import Database


class ModelOutageRepo:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def mark_down(self, model: str, *, until: float) -> None:
        """Record that `model` is down until `until` (a later mark keeps the later time)."""
        await self._db.execute(
            "INSERT INTO model_outages (model, down_until, found_at) VALUES (?, ?, ?)"
            " ON CONFLICT (model) DO UPDATE SET down_until = excluded.down_until,"
            " found_at = excluded.found_at WHERE model_outages.down_until < excluded.down_until",
            (model, until, time.time()),
        )

    async def down_now(self) -> dict[str, float]:
        """The models down now, with the time each comes back."""
        rows = await self._db.fetchall(
            "SELECT model, down_until FROM model_outages WHERE down_until > ?", (time.time(),)
        )
        return {str(r["model"]): float(r["down_until"]) for r in rows}

    async def mark_up(self, model: str) -> None:
        """`model` answered again: the others may try it before its cooldown ends."""
        now = time.time()
        await self._db.execute(
            "UPDATE model_outages SET down_until = ? WHERE model = ? AND down_until > ?",
            (now, model, now),
        )
