"""Long threads: the model sees the last HISTORY_TURNS turns whole and a summary of the rest."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from agents.testing import assistant_message

from agents_config.memory import ThreadSession
from storage.conversations import SUMMARY_LIMIT
from storage.store import Store
from tests.conftest import DeskFactory
from tests.databases import database_for
from tests.scripting import call, handoff, scripted


def _texts(items: list[Any]) -> list[str]:
    """The user and assistant words of a model input, in order."""
    out: list[str] = []
    for item in items:
        content = item.get("content") if isinstance(item, dict) else None
        if isinstance(content, str):
            out.append(content)
        elif isinstance(content, list):
            out.extend(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return out


async def test_older_turns_are_summarised_and_recent_ones_sent_whole(
    start_desk: DeskFactory,
) -> None:
    turns = 7
    model, resolver = scripted(
        *[[assistant_message(f"answer number {n}")] for n in range(turns)],
    )
    desk = await start_desk(resolver, history_turns=3)
    _, _, first = await desk.events.message("U_ALICE", "question number 0")
    await desk.settle()
    for n in range(1, turns):
        await desk.events.message("U_ALICE", f"question number {n}", thread_ts=first["ts"])
        await desk.settle()

    last_input = model.calls[-1].input
    assert isinstance(last_input, list)
    texts = _texts(last_input)
    summary = [t for t in texts if t.startswith("Summary of earlier messages")]
    assert len(summary) == 1, texts
    # Turns 0..2 fell out of the window of 3 (turn 6 is the new message): summarised…
    for n in range(3):
        assert f"User: question number {n}" in summary[0]
        assert f"Desk: answer number {n}" in summary[0]
    # …and turns 3..5 are sent whole, followed by the new message; nothing older is sent whole.
    whole = [t for t in texts if not t.startswith("Summary")]
    assert whole == [
        "question number 3",
        "answer number 3",
        "question number 4",
        "answer number 4",
        "question number 5",
        "answer number 5",
        "question number 6",
    ]
    model.assert_complete()


async def test_a_turn_is_never_cut_between_a_tool_call_and_its_output(
    start_desk: DeskFactory,
) -> None:
    model, resolver = scripted(
        handoff("billing_specialist"),
        call("list_invoices"),
        [assistant_message("Here are your invoices.")],
        [assistant_message("Second answer.")],
        [assistant_message("Third answer.")],
    )
    desk = await start_desk(resolver, history_turns=2)
    _, _, first = await desk.events.message("U_ALICE", "show my invoices")
    await desk.settle()
    for text in ("thanks", "one more thing"):
        await desk.events.message("U_ALICE", text, thread_ts=first["ts"])
        await desk.settle()

    # Turn 1 (with its handoff and tool call) is still in the window of the third message.
    items = model.calls[-1].input
    assert isinstance(items, list)
    kinds = [i.get("type") for i in items if isinstance(i, dict)]
    calls = [i for i in items if isinstance(i, dict) and i.get("type") == "function_call"]
    outputs = {
        i.get("call_id")
        for i in items
        if isinstance(i, dict) and i.get("type") == ("function_call_output")
    }
    assert calls, kinds
    assert all(c.get("call_id") in outputs for c in calls)


async def test_the_summary_stays_bounded_on_a_very_long_thread(start_desk: DeskFactory) -> None:
    desk = await start_desk(history_turns=1)
    store = desk.runtime.receiver.store
    session_key = "C_SUPPORT:1.0"
    for turn in range(1, 60):
        session = ThreadSession(store.conversations, session_key, turn=turn, history_turns=1)
        await session.add_items(
            [
                {"role": "user", "content": f"message {turn} " + "words " * 40},
                {"role": "assistant", "content": f"reply {turn} " + "more " * 40},
            ]
        )
    reader = ThreadSession(store.conversations, session_key, turn=60, history_turns=1)
    items = await reader.get_items()
    summary = str(items[0]["content"])  # type: ignore[index]
    assert summary.startswith("Summary of earlier messages")
    assert len(summary) <= SUMMARY_LIMIT + 100
    assert "message 58" in summary  # the newest folded turn is kept…
    assert "message 1 " not in summary  # …the oldest ones are dropped
    assert json.dumps(items[1:]).count("message 59") == 1  # the window holds the last turn


def _turn_items(turn: int, step: int) -> list[Any]:
    return [
        {"role": "user" if step == 0 else "assistant", "content": f"turn {turn} step {step}"},
        {
            "type": "function_call_output",
            "call_id": f"c{turn}-{step}",
            "output": "card 4242 4242 4242 4242",
        },
    ]


async def test_a_buffered_run_reads_and_stores_exactly_what_an_unbuffered_one_does(
    tmp_path: Path,
) -> None:
    """The desk's runs buffer their items (one write when the run ends): at every step of a
    run, and in the database after it, a buffered session is indistinguishable from one that
    writes each item at once, whether the thread fits in the window or slides out of it."""
    store = await Store.open(database_for(tmp_path / "desk.db"))
    window = 3
    try:
        for earlier in (0, 1, window - 1, window, window + 2):
            keys = {mode: f"C_SUPPORT:{earlier}.{mode}" for mode in ("plain", "buffered")}
            for key in keys.values():  # the same earlier turns in both threads
                for turn in range(1, earlier + 1):
                    await store.conversations.add(key, turn, _turn_items(turn, 0), window)
            sessions = {
                mode: ThreadSession(
                    store.conversations,
                    key,
                    turn=100,
                    history_turns=window,
                    buffered=mode == "buffered",
                )
                for mode, key in keys.items()
            }
            seen: dict[str, list[Any]] = {"plain": [], "buffered": []}
            for mode, session in sessions.items():
                seen[mode].append(await session.get_items())
                for step in range(3):
                    await session.add_items(_turn_items(100, step))
                    seen[mode].append(await session.get_items())
                    seen[mode].append(await session.get_items(limit=2))
            assert seen["buffered"] == seen["plain"], earlier
            assert "4242 4242 4242 4242" not in json.dumps(
                seen["buffered"]
            )  # stored as stored: scrubbed
            await sessions["buffered"].flush()
            stored = {
                mode: await store.conversations.recent(key, 100) for mode, key in keys.items()
            }
            assert stored["buffered"] == stored["plain"], earlier
    finally:
        await store.close()


async def test_a_buffered_session_writes_nothing_before_its_flush(tmp_path: Path) -> None:
    store = await Store.open(database_for(tmp_path / "desk.db"))
    try:
        session = ThreadSession(
            store.conversations, "C_SUPPORT:9.0", turn=7, history_turns=8, buffered=True
        )
        await session.add_items(_turn_items(7, 0))
        assert await store.conversations.recent("C_SUPPORT:9.0", 8) == (None, [])
        await session.flush()
        _, items = await store.conversations.recent("C_SUPPORT:9.0", 8)
        assert [i.get("content") for i in items] == ["turn 7 step 0", None]
    finally:
        await store.close()
