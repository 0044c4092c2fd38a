""" "Thanks, that solved it" through Slack: signed events to the real Bolt app, the offline
engine answering, the fake Slack Web API recording what the desk posts."""

from __future__ import annotations

from agents.testing import assistant_message

from storage.tickets import Ticket
from tests.conftest import Desk, DeskFactory
from tests.scripting import handoff, scripted
from tests.test_staff import action_ids, click


def rating_buttons(message: dict) -> list[str]:
    """The CSAT buttons of a message (an AI answer has its own: Talk to a person)."""
    return [a for a in action_ids(message) if a.startswith("csat_")]


async def test_thanks_that_solved_it_resolves_and_asks_for_one_rating(
    start_desk: DeskFactory,
) -> None:
    desk = await start_desk()
    store = desk.runtime.receiver.store
    _, _, event = await desk.events.message("U_ALICE", "I can't sign in")
    await desk.settle()
    ticket = await store.tickets.by_thread("C_SUPPORT", event["ts"])
    assert ticket is not None and ticket.status == "answered"
    [answer] = desk.slack.replies_in("C_SUPPORT", event["ts"])
    assert "Resetting your password" in answer["text"]

    await desk.events.message("U_ALICE", "thanks, that solved it", thread_ts=event["ts"])
    await desk.settle()
    resolved = await store.tickets.get(ticket.id)
    assert resolved is not None and resolved.status == "resolved"
    assert resolved.resolved_at is not None and resolved.assignee is None
    last = (await store.tickets.events(ticket.id))[-1]
    assert (last.status, last.actor) == ("resolved", "U_ALICE")  # resolved by the user

    replies = desk.slack.replies_in("C_SUPPORT", event["ts"])
    prompts = [m for m in replies if action_ids(m) == [f"csat_{n}" for n in range(1, 6)]]
    assert len(prompts) == 1 and len(replies) == 3  # answer, "closed", one rating request
    assert f"closed ticket #{ticket.id}" in replies[1]["text"]

    # The rating request works like staff's: the requester's click is stored.
    await click(desk, "U_ALICE", "csat_5", f"{ticket.id}:5", prompts[0])
    [rating] = await store.tickets.ratings(ticket.id)
    assert (rating.user_id, rating.score) == ("U_ALICE", 5)


async def test_thanks_with_a_new_problem_is_answered_not_closed(start_desk: DeskFactory) -> None:
    desk = await start_desk()
    store = desk.runtime.receiver.store
    _, _, event = await desk.events.message("U_ALICE", "I can't sign in")
    await desk.settle()
    await desk.events.message(
        "U_ALICE", "thanks, but the reset link still doesn't arrive", thread_ts=event["ts"]
    )
    await desk.settle()
    ticket = await store.tickets.by_thread("C_SUPPORT", event["ts"])
    assert ticket is not None and ticket.status == "answered"
    replies = desk.slack.replies_in("C_SUPPORT", event["ts"])
    assert len(replies) == 2 and not any(rating_buttons(m) for m in replies)


async def after_an_answer(desk: Desk, user: str, text: str) -> tuple[dict, Ticket | None]:
    """Alice asks and is answered, then `user` writes `text` in the thread: (Alice's event,
    the thread's ticket once all is answered)."""
    _, _, event = await desk.events.message("U_ALICE", "I can't sign in")
    await desk.settle()
    await desk.events.message(user, text, thread_ts=event["ts"])
    await desk.settle()
    return event, await desk.runtime.receiver.store.tickets.by_thread("C_SUPPORT", event["ts"])


async def test_only_the_requester_closes_the_ticket(start_desk: DeskFactory) -> None:
    desk = await start_desk()
    store = desk.runtime.receiver.store
    event, ticket = await after_an_answer(desk, "U_BOB", "thanks, that solved it")
    assert ticket is not None and ticket.status == "answered"
    assert all(e.actor != "U_BOB" for e in await store.tickets.events(ticket.id))
    replies = desk.slack.replies_in("C_SUPPORT", event["ts"])
    assert not any(rating_buttons(m) for m in replies)  # no rating request


async def test_a_bare_thanks_gets_a_reply_and_no_ticket_nor_staff(start_desk: DeskFactory) -> None:
    """Even with a model that would hand everything to a person: the desk answers a closing
    itself, so no model runs, nothing is escalated and no ticket is opened."""
    model, resolver = scripted(handoff("fallback"), [assistant_message("A person will help.")])
    desk = await start_desk(resolver)
    _, _, event = await desk.events.message("U_ALICE", "perfect, thank you")
    await desk.settle()
    [reply] = desk.slack.replies_in("C_SUPPORT", event["ts"])
    assert reply["text"].startswith("You're welcome!")
    assert await desk.runtime.receiver.store.tickets.by_thread("C_SUPPORT", event["ts"]) is None
    assert desk.slack.messages(channel="C_STAFF") == []
    assert not model.calls and not rating_buttons(reply)


async def test_gracias_after_an_answer_closes_in_spanish(start_desk: DeskFactory) -> None:
    desk = await start_desk()
    event, ticket = await after_an_answer(desk, "U_ALICE", "gracias!")
    assert ticket is not None and ticket.status == "resolved"
    replies = desk.slack.replies_in("C_SUPPORT", event["ts"])
    assert replies[1]["text"].startswith(f"¡De nada! He cerrado el ticket #{ticket.id}.")
    assert [m for m in replies if rating_buttons(m)] == [replies[2]]  # one rating request
    assert desk.slack.messages(channel="C_STAFF") == []


async def test_a_closing_in_spanish_is_answered_and_rated_in_spanish(
    start_desk: DeskFactory,
) -> None:
    """The closing reply and the rating request that follows speak the user's language."""
    desk = await start_desk()
    event, ticket = await after_an_answer(desk, "U_ALICE", "¡gracias, eso lo resolvió!")
    assert ticket is not None and ticket.status == "resolved"
    _, closed, prompt = desk.slack.replies_in("C_SUPPORT", event["ts"])
    assert f"He cerrado el ticket #{ticket.id}" in closed["text"]
    assert rating_buttons(prompt)
    assert f"el ticket #{ticket.id} está resuelto" in prompt["text"]
    assert "How happy" not in prompt["text"]
