"""Assistant threads: which DM threads are Slack AI app threads, and what the user is viewing."""

from __future__ import annotations

import time

from storage.db import Database


class AssistantThreadRepo:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def start(
        self, channel: str, thread_ts: str, user_id: str, context_channel: str | None
    ) -> bool:
        """Record a started thread; False when it was recorded before (a redelivery)."""
        new_id = await self._db.execute(
            "INSERT INTO assistant_threads (channel, thread_ts, user_id, context_channel,"
            " started_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (channel, thread_ts, user_id, context_channel, time.time()),
        )
        return bool(new_id)

    async def set_context(self, channel: str, thread_ts: str, context_channel: str | None) -> None:
        await self._db.execute(
            "UPDATE assistant_threads SET context_channel = ? WHERE channel = ? AND thread_ts = ?",
            (context_channel, channel, thread_ts),
        )

    async def is_assistant_thread(self, channel: str, thread_ts: str) -> bool:
        row = await self._db.fetchone(
            "SELECT 1 FROM assistant_threads WHERE channel = ? AND thread_ts = ?",
            (channel, thread_ts),
        )
        return row is not None

    async def context_channel(self, channel: str, thread_ts: str) -> str | None:
        """The channel the user was viewing when they last opened or moved the assistant
        thread (None when unknown, or when the thread was never started)."""
        row = await self._db.fetchone(
            "SELECT context_channel FROM assistant_threads WHERE channel = ? AND thread_ts = ?",
            (channel, thread_ts),
        )
        return row["context_channel"] if row else None
