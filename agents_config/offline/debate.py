"""Debates without a model: the optimist's and the skeptic's turns, and the moderator's
conclusion, from a fixed set of argument angles applied to the question.

Each side has its own order of angles (adoption, cost, support load, reversibility, evidence,
focus) and takes the next one each turn, so no turn repeats an earlier one. From the
second turn on, a speaker first answers the other side's last point: it quotes it and gives the
reply that angle calls for. The moderator reads the transcript back: each side's main points,
the words both sides keep using, what is still open, and a conditional recommendation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from agents_config.offline.text import (
    content_stems,
    first_sentence,
    join_words,
    stem,
    unsigned,
    words,
)

SIDES = ("optimist", "skeptic")
QUOTE_CHARS = 140


@dataclass(frozen=True)
class Angle:
    name: str
    cues: tuple[str, ...]  # words that show a text argues from this angle
    pro: str  # the optimist's point ({idea} is the question's proposal)
    con: str  # the skeptic's point
    answer_to_pro: str  # the skeptic's reply when the optimist argued from this angle
    answer_to_con: str  # the optimist's reply when the skeptic argued from this angle
    common: str  # what both sides accept when both argued from this angle
    benefit: str  # what would show the optimist right ("" if nothing measurable)
    concern: str  # what would show the skeptic right


ANGLES: dict[str, Angle] = {
    a.name: a
    for a in (
        Angle(
            "adoption",
            ("customer", "sign-up", "try", "convert", "paying", "pay", "stay"),
            "{Idea} lowers the bar for customers to say yes, and more people who try us means more "
            "who stay.",
            "{Idea} will attract people who were never going to pay, and every one of them still "
            "reaches the support desk.",
            "More sign-ups are not more customers: without a clear path to paying, the extra "
            "volume is cost, not growth.",
            "Some users will never pay, true, but self-service answers can serve them; the "
            "ones who convert pay for the rest.",
            "who signs up matters as much as how many",
            "more customers who stay",
            "sign-ups who never pay",
        ),
        Angle(
            "cost",
            ("cost", "budget", "recurring", "cap", "spend", "expensive"),
            "The cost can be capped up front: a budget, a scope and a date to stop, so the "
            "downside is known before we start.",
            "The costs are recurring, not one-off: people, tooling and support time every week "
            "after launch.",
            "A cap on paper is not a cap in practice: once customers depend on it, cutting it back "
            "costs goodwill.",
            "Recurring costs are fine when they are measured against recurring value, and we can "
            "track both from the first week.",
            "the cost has to be known before launch",
            "costs staying within the cap",
            "the recurring cost",
        ),
        Angle(
            "support",
            ("desk", "ticket", "question", "article", "load", "escalation"),
            "It should cut repeat questions: customers get what they need earlier, so fewer "
            "tickets come back to the desk.",
            "The desk carries the load: new questions, edge cases and escalations arrive "
            "before the help-centre articles exist.",
            "Fewer repeat questions is a hope, not a number: the ticket history has to show it "
            "first.",
            "The help-centre answers can ship with it: write the most common ones first and the "
            "desk handles the rest from them.",
            "the desk's workload is part of the decision",
            "fewer repeat tickets",
            "the extra load on the desk",
        ),
        Angle(
            "reversibility",
            ("pilot", "reversible", "take back", "promise", "stop", "withdraw"),
            "It is reversible: a time-boxed pilot with a success measure lets us stop cleanly if "
            "the numbers disappoint.",
            "It is hard to take back: customers treat what we offer as a promise, and withdrawing "
            "it reads as a broken one.",
            "Pilots rarely end on schedule: once it is live, 'temporary' becomes the default and "
            "the stop date slips.",
            "Then we call it a pilot from day one, in writing, with its end date; customers accept "
            "clear terms.",
            "it should be easy to stop",
            "",
            "customer expectations that are hard to undo",
        ),
        Angle(
            "evidence",
            ("evidence", "data", "learn", "numbers", "measure", "proof"),
            "We learn fast by doing: every week of real use gives us data that no amount of debate "
            "can.",
            "There is no evidence yet that {idea} solves a problem customers actually report; the "
            "case rests on expectations.",
            "Learning is only cheap if we decide now which result would make us stop; otherwise "
            "every result looks like a reason to continue.",
            "The evidence comes from trying it small: a pilot is how we get the numbers the "
            "skeptic is asking for.",
            "the decision should rest on numbers from real use",
            "usage numbers that back it",
            "no sign of a problem customers actually have",
        ),
        Angle(
            "focus",
            ("focus", "roadmap", "core", "distract", "hour", "priorit"),
            "It builds on what we already do well, so it strengthens the core offer instead of "
            "distracting from it.",
            "Every hour spent on {idea} is an hour not spent on the problems customers already "
            "complain about.",
            "'Strengthens the core' needs proof: the same effort could fix the known issues in the "
            "ticket history.",
            "It need not compete with fixes: a small team for a fixed time leaves the rest of the "
            "roadmap as it is.",
            "the roadmap's priorities must not suffer",
            "a stronger core offer",
            "known problems going unfixed",
        ),
    )
}
ORDER = {
    "optimist": ("adoption", "reversibility", "evidence", "cost", "support", "focus"),
    "skeptic": ("support", "cost", "evidence", "reversibility", "focus", "adoption"),
}
_LEADS = ("My case: ", "Another point: ", "And further: ", "One more: ")
_GENERIC_ANSWER = {
    "optimist": "That risk is real, but it argues for doing this carefully, not for not doing it.",
    "skeptic": "That is the best case; the plan has to work in the likely case too.",
}


@dataclass(frozen=True)
class Speech:
    side: str  # optimist | skeptic
    round: int
    text: str

    @property
    def point(self) -> str:
        """The turn's own argument: its last paragraph (the first ones answer the other side)."""
        paragraphs = [p.strip() for p in re.split(r"\n\s*\n", unsigned(self.text)) if p.strip()]
        return re.sub(
            r"^(?:My case|Another point|And further|One more|Finally):\s*",
            "",
            paragraphs[-1] if paragraphs else "",
        )


@dataclass(frozen=True)
class Debate:
    question: str
    turns: list[Speech]
    cut_short: bool = False
    last_round: bool = False  # the speaker's turn is in the debate's last round

    @property
    def idea(self) -> str:
        return proposal(self.question)


_TURN = re.compile(
    r"\*\*(Optimist|Skeptic) \(round (\d+)\):\*\*\s*(.*?)"
    r"(?=\n\n\*\*(?:Optimist|Skeptic) \(round \d+\):\*\*|\n\n\(The debate|"
    r"\n\nYou are the |\Z)",
    re.S,
)


def read_debate(prompt: str) -> Debate:
    """The question and the turns so far, from a debater's or the moderator's prompt."""
    question = re.search(r"^Question:\s*(.+)$", prompt, re.M)
    turns = [
        Speech(m.group(1).lower(), int(m.group(2)), m.group(3).strip())
        for m in _TURN.finditer(prompt)
    ]
    rounds = re.search(r"This is round (\d+) of (\d+)", prompt)
    return Debate(
        question.group(1).strip() if question else first_sentence(prompt, 200),
        turns,
        cut_short="cut short" in prompt,
        last_round=rounds is not None and int(rounds.group(1)) == int(rounds.group(2)) > 1,
    )


def proposal(question: str) -> str:
    """The proposal a question debates, as a noun phrase ("the move to offer a free plan")."""
    text = question.strip().rstrip("?.! ")
    modal = re.match(
        r"^(?:should|shall|would|could|can|will|must|do|does)\s+"
        r"(?:we|i|you|they|the (?:company|desk|team)|our (?:company|team))\s+(.+)$",
        text,
        re.I,
    )
    if modal:
        return f"the move to {modal.group(1)}"
    worth = re.match(
        r"^(?:is|would)\s+it\s+(?:be\s+)?(?:worth|wise|a good idea)\s+(to\s+)?(.+)$", text, re.I
    )
    if worth:  # "…wise to raise prices" -> "the move to raise prices"; "…worth offering X"
        return f"the move to {worth.group(2)}" if worth.group(1) else worth.group(2)
    being = re.match(
        r"^(?:is|are|was|were)\s+(.+?)(?:\s+(?:a good idea|worth it|wise|the right "
        r"(?:call|move|choice)|a good (?:move|choice)))?$",
        text,
        re.I,
    )
    subject = being.group(1) if being else text
    if subject[1:2].islower():  # "Free plans" -> "free plans", but "API limits" stays
        subject = subject[0].lower() + subject[1:]
    return subject or "the proposal"


def argue(side: str, debate: Debate) -> str:
    """One turn of `side`: an answer to the other side's last point, then its next angle."""
    own = [t for t in debate.turns if t.side == side]
    other = [t for t in debate.turns if t.side != side]
    angle = ANGLES[ORDER[side][len(own) % len(ORDER[side])]]  # a new angle every turn
    point = _say(angle.pro if side == "optimist" else angle.con, debate.idea)
    lead = "Finally: " if debate.last_round else _LEADS[min(len(own), len(_LEADS) - 1)]
    parts = [answer(side, other[-1], debate.idea) if other else "", f"{lead}{point}"]
    return "\n\n".join(p for p in parts if p)


def answer(side: str, last: Speech, idea: str) -> str:
    """The reply of `side` to the other side's last turn: a quote of its point, then why."""
    name = angle_of(last.point, idea)
    reply = (
        _GENERIC_ANSWER[side]
        if name is None
        else (ANGLES[name].answer_to_con if side == "optimist" else ANGLES[name].answer_to_pro)
    )
    return f"The {last.side} says “{first_sentence(last.point, QUOTE_CHARS)}” {reply}"


def angle_of(text: str, idea: str = "") -> str | None:
    """The angle a point argues from: the one it was written from, else the one whose cues it
    uses most (None if none)."""
    for name, angle in ANGLES.items():
        if text in (_say(angle.pro, idea), _say(angle.con, idea)):
            return name
    said = set(content_stems(text))
    padded = f" {' '.join(words(text))} "
    scores = {
        name: sum(stem(c) in said or f" {c} " in padded for c in angle.cues)
        for name, angle in ANGLES.items()
    }
    best = max(scores, key=lambda n: scores[n])
    return best if scores[best] else None


def conclude(debate: Debate) -> str:
    """The moderator's balanced conclusion (Markdown, no headings)."""
    if not debate.turns:
        return "Nothing was said, so there is nothing to conclude."
    points = {side: [t.point for t in debate.turns if t.side == side] for side in SIDES}
    lines = [
        f"**The {side}'s strongest points:** "
        + (" ".join(first_sentence(p, 200) for p in points[side][:2]) or "none was made.")
        for side in SIDES
    ]
    lines.append(f"**Where they agree:** {_common_ground(debate)}")
    lines.append(f"**Still uncertain:** {_open_point(debate)}")
    lines.append(f"**Recommendation:** {_recommendation(debate, points)}")
    if debate.cut_short:
        lines.append("_The debate was cut short, so this conclusion rests on fewer arguments._")
    return "\n\n".join(lines)


def _open_point(debate: Debate) -> str:
    last = debate.turns[-1]
    return (
        f"the {last.side}'s last point (“{first_sentence(last.point, QUOTE_CHARS)}”) was "
        "not answered, and neither side had figures from real use."
    )


def _recommendation(debate: Debate, points: dict[str, list[str]]) -> str:
    benefits = _phrases(points["optimist"], "benefit", debate.idea)
    concerns = _phrases(points["skeptic"], "concern", debate.idea)
    return (
        f"go ahead with {debate.idea} only as a time-limited pilot with a success measure "
        f"and a stop date agreed up front. Count it a success if it shows "
        f"{join_words(benefits[:2]) or 'a clear benefit'}; stop if the review finds "
        f"{join_words(concerns[:2], 'or') or 'the risks'} weighing more than the gains."
    )


def _phrases(points: list[str], kind: str, idea: str) -> list[str]:
    names = dict.fromkeys(n for p in points if (n := angle_of(p, idea)))
    return [phrase for n in names if (phrase := getattr(ANGLES[n], kind))]


def _common_ground(debate: Debate) -> str:
    """What both sides engaged with: the angles of the points the other side answered (every
    point but the last) and of the points both made."""
    idea = debate.idea
    answered = [angle_of(t.point, idea) for t in debate.turns[:-1]]
    made = [{angle_of(t.point, idea) for t in debate.turns if t.side == side} for side in SIDES]
    both = [n for n in ANGLES if all(n in m for m in made)]
    shared = [ANGLES[n].common for n in dict.fromkeys([*both, *answered]) if n][:2]
    if shared:
        return f"both accept that {join_words(shared)}."
    return "little: they argued from different angles and did not answer each other."


def _say(template: str, idea: str) -> str:
    return template.format(Idea=idea[:1].upper() + idea[1:], idea=idea)
