"""Acting tools that run only after a person says yes to that exact call.

An acting tool declares it where it is defined: `desk_tool(confirm=Confirmation(...))`. That
sets the SDK's `needs_approval` on the tool, so the run stops before the call
(`result.interruptions`) whatever the model or the offline engine decided, and the tool's own
body refuses to act unless the SDK says this very call was approved: the gate holds even if a
tool were run some other way. The desk then saves the run (`storage.approvals`) and asks the
`approver`; a yes resumes the run (`RunState.approve`), anything else closes it.

`propose` describes the call for the person who must answer ("Refund ORD-1001 … $450.00 to
Visa •••• 4242"), or says why it cannot happen anyway (an ineligible order): then nobody is
asked, and the tool answers with that refusal without acting.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

from agents import RunContextWrapper

from agents_config.context import DeskContext

# Who must say yes: the requester; "staff" when a proposal says a person must approve too
# (`Proposal.review`): the requester confirms first, then a staff member approves or rejects.
Approver = Literal["requester", "staff"]


@dataclass(frozen=True)
class Proposal:
    """What a call would do (`action`, to be confirmed), or why it will not (`refusal`: the
    tool's answer without acting; for a call run again after it acted, what it did).

    `review`: why a staff member must approve it as well, after the requester's yes (a refund
    over REFUND_APPROVAL_LIMIT), with the policy check staff see on their card; None when the
    requester's yes is enough."""

    action: str | None = None
    refusal: str | None = None
    review: str | None = None


Propose = Callable[[RunContextWrapper[DeskContext], dict[str, Any]], Awaitable[Proposal]]


@dataclass(frozen=True)
class Confirmation:
    """An acting tool's rule: who must say yes, and how the call is put to them."""

    propose: Propose
    approver: Approver = "requester"


_CONFIRMATIONS: dict[str, Confirmation] = {}


def register(tool_name: str, confirmation: Confirmation) -> None:
    """Called by `desk_tool`; tool names are unique across the desk."""
    _CONFIRMATIONS[tool_name] = confirmation


def confirmation_for(tool_name: str) -> Confirmation | None:
    return _CONFIRMATIONS.get(tool_name)


# ---- a typed answer in the thread ----------------------------------------------------------

Answer = Literal["confirm", "cancel", "approve", "reject"]  # the last two: staff's review

_YES = {
    "yes", "y", "yep", "yeah", "yes please", "confirm", "confirmed", "i confirm", "yes confirm",
    "yes i confirm", "go ahead", "yes go ahead", "please go ahead", "ok", "okay", "ok go ahead",
    "do it", "please do", "yes do it", "sure", "approve", "approved",
}  # fmt: skip
_NO = {
    "no", "n", "nope", "no thanks", "no thank you", "cancel", "cancel it", "no cancel",
    "don't", "do not", "dont", "stop", "never mind", "nevermind", "not now", "no don't",
}  # fmt: skip
# Any short mix of these (a yes word, or "go ahead" / "do it", with politeness around it).
_MAX_ANSWER_WORDS = 8
_YES_CORE = frozenset(
    "yes y yep yeah yup sure ok okay confirm confirmed proceed approve approved absolutely "
    "definitely sí si ja oui はい".split()
)
_YES_PHRASES = (" go ahead ", " do it ", " please do ", " do that ")
_YES_WORDS = frozenset(
    "please pls plz do it go ahead i that thanks thank you sounds good great perfect fine "
    "correct right that's thats let's lets and the refund por favor bitte merci gracias danke "
    "vale claro genau d'accord お願いします".split()
)
_NO_CORE = frozenset("no n nope nah cancel stop don't dont not never nein non いいえ".split())
_NO_WORDS = frozenset(
    "thanks thank you please pls do it that mind nevermind now gracias danke merci".split()
)


def typed_answer(text: str) -> Answer | None:
    """A message that is only a yes or a no ("Yes please!", "yes please do it", "no, don't",
    "sí, por favor"); None for anything else, however yes-like it starts ("yes, but which
    card?" is a new question): every word must be a yes (or no) word or politeness, with one
    yes (no) at least, and not both."""
    words = " ".join(re.sub(r"[^\w\s']", " ", text.lower()).split())
    if words in _YES:
        return "confirm"
    if words in _NO:
        return "cancel"
    tokens = set(words.split())
    if not tokens or len(words.split()) > _MAX_ANSWER_WORDS:
        return None
    said_yes = bool(tokens & _YES_CORE) or any(p in f" {words} " for p in _YES_PHRASES)
    said_no = bool(tokens & _NO_CORE)
    if said_yes and not said_no and tokens <= _YES_CORE | _YES_WORDS:
        return "confirm"
    if said_no and not said_yes and tokens <= _NO_CORE | _NO_WORDS:
        return "cancel"
    return None
