"""`ThreadSession`: the Agents SDK `Session` of one Slack thread, stored in the database."""

from __future__ import annotations

import copy
from typing import Any, cast

from agents import TResponseInputItem
from agents.memory import SessionABC

from storage.conversations import ConversationRepo, Item


class ThreadSession(SessionABC):
    """History of one thread, bounded to the last `history_turns` turns plus a summary.

    One instance serves one turn: items it receives are stored under `turn` (the inbox id),
    which is what lets a crashed turn be discarded and run again without doubling it.

    `buffered` (the desk's runs): the items a run adds are kept here and written in one
    transaction by `flush()`, which the run's owner calls when the run ends (however it
    ends); reads in between see them. While the thread has fewer turns than the window,
    nothing slides out of it, so the history read first plus the items added since is
    exactly what the database would answer, and no read goes to it; otherwise the items
    are written first and the history read again, as unbuffered.
    """

    def __init__(
        self,
        repo: ConversationRepo,
        thread_key: str,
        *,
        turn: int,
        history_turns: int,
        buffered: bool = False,
    ) -> None:
        self.session_id = thread_key
        self.session_settings = None
        self._repo = repo
        self._turn = turn
        self._history_turns = history_turns
        self._buffered = buffered
        self._pending: list[Item] = []  # added, not written yet (as they will be stored)
        self._read: tuple[str | None, list[tuple[int, Item]]] | None = None  # the last read

    async def get_items(self, limit: int | None = None) -> list[TResponseInputItem]:
        if self._read is None or not self._window_holds():
            await self.flush()
            self._read = await self._repo.recent_by_turn(self.session_id, self._history_turns)
        summary, rows = self._read
        merged = [*rows, *((self._turn, item) for item in self._pending)]
        merged.sort(key=lambda row: row[0])  # stable: in the order the database keeps
        items = [copy.deepcopy(item) for _, item in merged]
        if limit is not None:
            items = items[-limit:] if limit > 0 else []
        if summary:
            note = {
                "role": "system",
                "content": f"Summary of earlier messages in this Slack thread:\n{summary}",
            }
            items = [note, *items]
        return cast(list[TResponseInputItem], items)

    def _window_holds(self) -> bool:
        """Whether the thread, this turn included, still fits in the window (the last read
        then holds every turn of it, and nothing is folded into the summary)."""
        assert self._read is not None
        # Fewer turns than the window: the read had every turn of the thread, and with this
        # one there are at most as many as the window holds.
        return self._buffered and len({turn for turn, _ in self._read[1]}) < self._history_turns

    async def add_items(self, items: list[TResponseInputItem]) -> None:
        plain = [cast(dict[str, Any], item) for item in items]
        if not self._buffered:
            self._read = None
            await self._repo.add(self.session_id, self._turn, plain, self._history_turns)
            return
        self._pending.extend(ConversationRepo.as_stored(item) for item in plain)

    async def flush(self) -> None:
        """Write the items added and not written yet, in one transaction."""
        if self._pending:
            pending, self._pending = self._pending, []
            self._read = None
            await self._repo.add(self.session_id, self._turn, pending, self._history_turns)

    async def pop_item(self) -> TResponseInputItem | None:
        await self.flush()
        self._read = None
        return cast(TResponseInputItem | None, await self._repo.pop_last(self.session_id))

    async def clear_session(self) -> None:
        self._pending, self._read = [], None
        await self._repo.clear(self.session_id)
