"""Conversation memory per Slack thread, behind the Agents SDK's `Session` interface.

Items are stored per *turn* (the inbox id of the Slack message that caused them), which gives
two things the plain SDK sessions do not:

- bounded input: `get_items` returns the last `history_turns` turns whole (a turn is never cut
  between a tool call and its output), preceded by a short running summary of older turns, so
  turn 200 of a thread sends the model about as much as turn 20;
- exactly-once resumption: a turn interrupted by a crash is discarded (`discard_turn`) before it
  is run again, so the user's message is not remembered twice.
"""

from __future__ import annotations

import json
import time
from typing import Any

from storage.db import Database, Row, Tx
from storage.redaction import scrub_json

Item = dict[str, Any]

SUMMARY_LIMIT = 1500  # characters of running summary kept per thread
_EXCERPT = 160


class ConversationRepo:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def recent(self, thread_key: str, turns: int) -> tuple[str | None, list[Item]]:
        """The running summary (if any) and the items of the last `turns` turns."""
        summary, rows = await self.recent_by_turn(thread_key, turns)
        return summary, [item for _, item in rows]

    async def recent_by_turn(
        self, thread_key: str, turns: int
    ) -> tuple[str | None, list[tuple[int, Item]]]:
        """Like `recent`, each item with its turn."""
        # One query: the summary's row (part 0) first, then the items in order.
        rows = await self._db.fetchall(
            "SELECT 0 AS part, 0 AS turn, 0 AS id, summary AS body FROM thread_summaries"
            " WHERE thread_key = ?"
            " UNION ALL"
            " SELECT 1, turn, id, item FROM conversation_items WHERE thread_key = ? AND turn IN ("
            " SELECT DISTINCT turn FROM conversation_items WHERE thread_key = ?"
            " ORDER BY turn DESC LIMIT ?) ORDER BY part, turn, id",
            (thread_key, thread_key, thread_key, turns),
        )
        summary = rows[0]["body"] if rows and rows[0]["part"] == 0 else None
        items = [(int(r["turn"]), json.loads(r["body"])) for r in rows if r["part"] == 1]
        return summary, items

    @staticmethod
    def as_stored(item: Item) -> Item:
        """The item as `add` stores it and `recent` reads it back (secrets removed)."""
        loaded: Item = json.loads(_encode(item))
        return loaded

    async def add(self, thread_key: str, turn: int, items: list[Item], keep_turns: int) -> None:
        """Append a turn's items; fold turns that fall out of the window into the summary."""
        now = time.time()
        # Secrets are removed from every item (what the user, the models and the tools said).
        encoded = [(thread_key, turn, _encode(item), now) for item in items]

        async def body(tx: Tx) -> None:
            await tx.executemany(
                "INSERT INTO conversation_items (thread_key, turn, item, created_at)"
                " VALUES (?, ?, ?, ?)",
                encoded,
            )
            newest_old = await tx.fetchall(
                "SELECT DISTINCT turn FROM conversation_items WHERE thread_key = ?"
                " ORDER BY turn DESC LIMIT 1 OFFSET ?",
                (thread_key, keep_turns),
            )
            if not newest_old:
                return
            existing = await tx.fetchall(
                "SELECT summary, upto_turn FROM thread_summaries WHERE thread_key = ?",
                (thread_key,),
            )
            upto = existing[0]["upto_turn"] if existing else -1
            newest = newest_old[0]["turn"]
            if newest <= upto:
                return
            folded = [
                json.loads(r["item"])
                for r in await tx.fetchall(
                    "SELECT item FROM conversation_items WHERE thread_key = ? AND turn > ?"
                    " AND turn <= ? ORDER BY turn, id",
                    (thread_key, upto, newest),
                )
            ]
            summary = _fold(existing[0]["summary"] if existing else "", folded)
            await tx.execute(
                "INSERT INTO thread_summaries (thread_key, summary, upto_turn, updated_at)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (thread_key) DO UPDATE SET"
                " summary = excluded.summary, upto_turn = excluded.upto_turn,"
                " updated_at = excluded.updated_at",
                (thread_key, summary, newest, now),
            )

        await self._db.atomic(body)

    async def discard_turn(self, thread_key: str, turn: int) -> int:
        return await self._db.execute(
            "DELETE FROM conversation_items WHERE thread_key = ? AND turn = ?", (thread_key, turn)
        )

    async def pop_last(self, thread_key: str) -> Item | None:
        async def body(tx: Tx) -> Row | None:
            row = await tx.fetchone(
                "SELECT id, item FROM conversation_items WHERE thread_key = ?"
                " ORDER BY id DESC LIMIT 1",
                (thread_key,),
            )
            if row is not None:
                await tx.execute("DELETE FROM conversation_items WHERE id = ?", (row["id"],))
            return row

        row = await self._db.atomic(body)
        return None if row is None else json.loads(row["item"])

    async def clear(self, thread_key: str) -> None:
        async def body(tx: Tx) -> None:
            await tx.execute("DELETE FROM conversation_items WHERE thread_key = ?", (thread_key,))
            await tx.execute("DELETE FROM thread_summaries WHERE thread_key = ?", (thread_key,))

        await self._db.atomic(body)


def _encode(item: Item) -> str:
    return json.dumps(scrub_json(item), default=str)


def _text_of(item: Item) -> str:
    content = item.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return ""


def _fold(summary: str, items: list[Item]) -> str:
    """Add the user's and the desk's words of older turns to the summary, newest kept."""
    lines = [summary] if summary else []
    for item in items:
        role = item.get("role")
        text = " ".join(_text_of(item).split())
        if role in ("user", "assistant") and text:
            who = "User" if role == "user" else "Desk"
            excerpt = text if len(text) <= _EXCERPT else text[: _EXCERPT - 1] + "…"
            lines.append(f"{who}: {excerpt}")
    folded = "\n".join(lines)
    if len(folded) > SUMMARY_LIMIT:
        folded = "…" + folded[-(SUMMARY_LIMIT - 1) :]
    return folded
