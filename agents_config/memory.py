"""`ThreadSession`: the Agents SDK `Session` of one Slack thread, stored in SQLite."""

from __future__ import annotations

from typing import Any, cast

from agents import TResponseInputItem
from agents.memory import SessionABC

from storage.conversations import ConversationRepo


class ThreadSession(SessionABC):
    """History of one thread, bounded to the last `history_turns` turns plus a summary.

    One instance serves one turn: items it receives are stored under `turn` (the inbox id),
    which is what lets a crashed turn be discarded and run again without doubling it.
    """

    def __init__(
        self, repo: ConversationRepo, thread_key: str, *, turn: int, history_turns: int
    ) -> None:
        self.session_id = thread_key
        self.session_settings = None
        self._repo = repo
        self._turn = turn
        self._history_turns = history_turns

    async def get_items(self, limit: int | None = None) -> list[TResponseInputItem]:
        summary, items = await self._repo.recent(self.session_id, self._history_turns)
        if limit is not None:
            items = items[-limit:] if limit > 0 else []
        if summary:
            note = {
                "role": "system",
                "content": f"Summary of earlier messages in this Slack thread:\n{summary}",
            }
            items = [note, *items]
        return cast(list[TResponseInputItem], items)

    async def add_items(self, items: list[TResponseInputItem]) -> None:
        plain = [cast(dict[str, Any], item) for item in items]
        await self._repo.add(self.session_id, self._turn, plain, self._history_turns)

    async def pop_item(self) -> TResponseInputItem | None:
        return cast(TResponseInputItem | None, await self._repo.pop_last(self.session_id))

    async def clear_session(self) -> None:
        await self._repo.clear(self.session_id)
