"""Routing criteria, declared once as data.

The same criteria are written into the triage and billing prompts (for a real model) and scored
by the offline engine (which has no language model), so both route by one explicit rule set.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Route:
    """Where a request goes, and the explicit signs that send it there."""

    agent: str
    department: str
    summary: str
    keywords: tuple[str, ...]
    intents: tuple[str, ...]

    def as_prompt(self) -> str:
        return (
            f"- `{self.agent}` ({self.department}): {self.summary}\n"
            f"  Keywords: {', '.join(self.keywords)}.\n"
            f"  Intents: {'; '.join(self.intents)}."
        )


# The department that answers for each help-centre category (an article's `category:`): a
# request about something only one article explains (a decline code) goes where that article
# belongs. "general" (how to reach a person) belongs to no department.
CATEGORY_DEPARTMENTS = {
    "billing": "billing",
    "sales": "sales",
    "account": "tech",
    "developers": "tech",
    "security": "tech",
    "technical": "tech",
}


TRIAGE_ROUTES: tuple[Route, ...] = (
    Route(
        agent="billing_specialist",
        department="billing",
        summary="money the customer owes or paid: invoices, charges, payments, refunds.",
        keywords=(
            "invoice",
            "bill",
            "billing",
            "charge",
            "charged",
            "payment",
            "paid",
            "pay",
            "card",
            "declined",
            "refund",
            "money back",
            "balance",
            "receipt",
            "vat",
            "tax",
            "credit",
            "overcharged",
            "double",
            "subscription fee",
            "proration",
            "billed",
            "overdue",
            "unpaid",
            "owe",
            "outstanding",
            "statement",
            "wire",
            "bank transfer",
            "direct debit",
            "payment method",
            "credit card",
            "credit note",
            "prorated",
            "twice",
            "renewal",
            "reimburse",
            "billing address",
            "currency",
            "tax exempt",
            "dunning",
            "funds",
            "money",
            # other languages (es, de, fr, ja, it, pt)
            "factura",
            "cobro",
            "cobraron",
            "cargo",
            "reembolso",
            "tarjeta",
            "pago",
            "rechnung",
            "zahlung",
            "rückerstattung",
            "abbuchung",
            "belastet",
            "kreditkarte",
            "lastschrift",
            "facture",
            "remboursement",
            "débité",
            "paiement",
            "carte",
            "prélèvement",
            "fattura",
            "addebito",
            "rimborso",
            "cobrado",
            "fatura",
            "請求",
            "返金",
            "支払",
            "領収書",
            "カード",
        ),
        intents=(
            "asks about an invoice, a charge or the account balance",
            "wants a refund or money back for an order",
            "a payment failed, was declined, or was taken twice",
            "wants to change the payment method or get a tax invoice",
        ),
    ),
    Route(
        agent="tech_support",
        department="tech",
        summary="the product does not work as expected.",
        keywords=(
            "error",
            "bug",
            "crash",
            "login",
            "log in",
            "password",
            "sso",
            "saml",
            "2fa",
            "api",
            "429",
            "500",
            "webhook",
            "integration",
            "outage",
            "down",
            "slow",
            "sync",
            "export",
            "broken",
            "not working",
            "timeout",
            "browser",
            "app",
            "sign in",
            "log out",
            "locked out",
            "dashboard",
            "page",
            "load",
            "blank",
            "screen",
            "mobile",
            "ios",
            "android",
            "notifications",
            "upload",
            "import",
            "csv",
            "search",
            "token",
            "api key",
            "timing out",
            "401",
            "403",
            "404",
            "502",
            "503",
            "cors",
            "dns",
            "endpoint",
            "rate limit",
            "scim",
            "okta",
            "idp",
            "authenticator",
            "mfa",
            "settings",
            "invite",
            "stopped",
            "missing",
            "docs",
            "chrome",
            "firefox",
            "safari",
            "server",
            "session",
            "ip",
            "contraseña",
            "sesión",
            "bloqueada",
            "aplicación",
            "passwort",
            "anmelden",
            "gesperrt",
            "fehler",
            "abstürzt",
            "mot de passe",
            "connecter",
            "bloqué",
            "erreur",
            "plante",
            "accedere",
            "ログイン",
            "パスワード",
            "エラー",
            "ロック",
            "アプリ",
            "クラッシュ",
            "同期",
        ),
        intents=(
            "cannot sign in, reset a password, or set up SSO or two-factor authentication",
            "an API call, webhook, integration or export fails",
            "the product is down, slow, crashes or shows an error",
            "wants to report a bug",
        ),
    ),
    Route(
        agent="sales",
        department="sales",
        summary="buying decisions before money changes hands.",
        keywords=(
            "pricing",
            "price",
            "plan",
            "plans",
            "upgrade",
            "enterprise",
            "demo",
            "trial",
            "quote",
            "seats",
            "discount",
            "buy",
            "purchase",
            "cost",
            "compare",
            "features",
            "how much",
            "deal",
            "contract",
            "procurement",
            "partner",
            "reseller",
            "nonprofit",
            "education",
            "startup",
            "pilot",
            "proof of concept",
            "evaluate",
            "evaluation",
            "walkthrough",
            "onboarding",
            "sales",
            "security",
            "compliance",
            "soc 2",
            "hipaa",
            "on-prem",
            "sla",
            "add-on",
            "difference",
            "vs",
            "cheaper",
            "per seat",
            "volume",
            "per user",
            "license",
            "roi",
            "competitor",
            "program",
            "included",
            "offer",
            "precio",
            "cuesta",
            "descuento",
            "cotización",
            "prueba gratuita",
            "kostet",
            "preis",
            "rabatt",
            "angebot",
            "testversion",
            "tarif",
            "prix",
            "démo",
            "remise",
            "essai",
            "custa",
            "costa",
            "料金",
            "デモ",
            "見積",
            "トライアル",
            "プラン",
        ),
        intents=(
            "asks what plans cost or how they differ",
            "wants a demo, a trial, a quote or more seats",
            "considers upgrading or buying for a team",
        ),
    ),
    Route(
        agent="fallback",
        department="human",
        summary="a person must handle it.",
        keywords=(
            "human",
            "person",
            "agent",
            "manager",
            "someone",
            "representative",
            "complaint",
            "lawyer",
            "legal",
            "unacceptable",
            "escalate",
            "supervisor",
            "real person",
            "human being",
            "bot",
            "sue",
            "lawsuit",
            "attorney",
            "court",
            "legal action",
            "subpoena",
            "law enforcement",
            "gdpr",
            "privacy",
            "data protection",
            "dpo",
            "breach",
            "press",
            "journalist",
            "harassment",
            "harass",
            "threatening",
            "abuse",
            "rude",
            "ombudsman",
            "regulator",
            "in charge",
            "senior",
            "hacked",
        ),
        intents=(
            "asks for a human, a manager or a real person",
            "makes a formal complaint or a legal threat",
            "no other department fits, or the request is sensitive",
        ),
    ),
)

BILLING_ROUTES: tuple[Route, ...] = (
    Route(
        agent="refund_processor",
        department="billing",
        summary="refunds of orders: eligibility and issuing them.",
        keywords=(
            "refund",
            "refundable",
            "money back",
            "return",
            "reimburse",
            "cancel order",
            "reverse",
        ),
        intents=("wants money back for an order", "asks whether an order can be refunded"),
    ),
    Route(
        agent="payment_investigator",
        department="billing",
        summary="payments that failed, were declined, are pending or look wrong.",
        keywords=(
            "declined",
            "failed",
            "pending",
            "double",
            "twice",
            "rejected",
            "card",
            "insufficient funds",
            "bounced",
            "go through",
            "duplicate",
            "retry",
        ),
        intents=(
            "a payment failed or a card was declined",
            "a payment is pending or was taken twice",
        ),
    ),
)

AGENT_DEPARTMENTS: dict[str, str] = {
    route.agent: route.department for route in (*TRIAGE_ROUTES, *BILLING_ROUTES)
}


@dataclass(frozen=True)
class EscalationSign:
    """A sign that a request must go to a person, whatever else it asks.

    `description` is written into the prompts of real models; `pattern` is what the offline
    router checks. Signs only ever move a request towards `human`, never away from it.
    """

    name: str
    description: str
    pattern: re.Pattern[str]


def _any(*alternatives: str) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{a})" for a in alternatives), re.IGNORECASE)


_PERSON_NOUN = (
    r"human|humans|person|someone|somebody|manager|supervisor|representative|"
    r"agent|staff|whoever|senior|operator|rep"
)
ESCALATION_SIGNS: tuple[EscalationSign, ...] = (
    EscalationSign(
        "person",
        "asks for a human, a person, an agent, a manager or a call back, in any language or in "
        "chat slang ('talk to a human', 'hooman pls', 'not a bot', 'hablar con una persona', "
        "'mit einem Menschen sprechen', '担当者と話したい', 'parler à un humain')",
        _any(
            rf"\b(?:talk|tlak|speak|speek|chat|connect|transfer|put|escalate|reach|get|need|"
            rf"want|wana|wanna)\b(?:\W+\w+){{0,4}}?\W+(?:{_PERSON_NOUN}|humen|huamn|hooman|"
            rf"persn|manger|managr|sum1|sb)\b",
            r"\b(?:real|actual|live)\s+(?:person|human|people|agent|one)\b|\bhuman\s+being",
            r"\bnot\s+(?:a\s+|this\s+|talking\s+to\s+a\s+)?(?:bot|machine)\b|\bno\s+bots?\b",
            r"\b(?:stop|another|useless)\W+(?:the\s+|this\s+)?bots?\b|\bbots?\b\W+"
            r"(?:is\s+|isn'?t\s+)?(?:useless|not helping|stop)|\bare you a bot\b",
            r"\bautomated (?:answers?|responses?|stuff|help|replies)|"
            r"\bcanned (?:answers?|responses?)",
            r"\bwho (?:can|could|do) (?:i|we) (?:call|phone|talk to|speak (?:to|with))\b",
            r"^\W*(?:human|agent|person|representative|representitive|operator|live agent|"
            r"hooman|huamn|persn|agnet|people|customer (?:service|care))\b",
            r"\b(?:hooman|huamn|humen)\b|\birl\b",
            # a call back asked for or promised; not an SSO or webhook "callback" (a URL)
            r"\b(?:call|phone|ring)\s+(?:me|us)\b|\bcall\s+back\b|\bnumber I can call\b|"
            r"\b(?:want|need|get|request\w*|promised|expect\w*|waiting for|schedule|arrange|"
            r"book)\s+(?:a\s+|my\s+|the\s+|that\s+)?call-?backs?\b|^\W*call-?back\W*$",
            r"\b(?:agent|human)\s+(?:pls|plz|please)\b",
            r"\b(?:connect|transfer|put)\s+me\s+(?:with|to|through)\b",
            r"\bhablar con (?:una persona|un humano|alguien|un agente|un responsable|"
            r"un supervisor)|\bp[aá]seme con\b|\bpersona real\b|\bagente real\b",
            r"\bmit einem (?:menschen|mitarbeiter)|\becht(?:e|en|er) person|vorgesetzten|"
            r"mitarbeiter (?:sprechen|verbinden)",
            r"担当者|人間|オペレーター|有人",
            r"parler (?:à|a) (?:un humain|quelqu'?un|un conseiller|une personne|un responsable)|"
            r"passez-moi|quelqu'?un de r[ée]el",
            r"falar com (?:uma pessoa|um atendente|algu[ée]m|um humano|um agente)|"
            r"atendente humano|agente humano|"
            r"parlare con (?:un operatore|una persona|qualcuno)|medewerker spreken|\been mens\b",
        ),
    ),
    EscalationSign(
        "legal",
        "threatens legal action or involves lawyers, courts, regulators or the police",
        _any(
            r"\b(?:sue|suing|lawsuit|lawyers?|lawer|attorneys?|solicitor|court|subpoena|"
            r"ombudsman|regulator|police|law enforcement|legal (?:action|team|department)|"
            r"breach of contract|consumer protection|small claims|chargeback notification)\b",
            r"\b(?:demandar\w*|abogad\w*|anwalt\w*|verklagen|klage|avocat|advocaat)\b|"
            r"porter plainte|弁護士|訴",
            r"\b(?:denunci\w*|processar(?:ei)?|advogad\w*|avvocat\w*|querela|tribunal|gericht|"
            r"poursuivre en justice|poursuites judiciaires)\b|"
            r"\bdata protection (?:authority|regulator)|"
            r"\breport(?:ing)? (?:you|this|it|them) to (?:the )?(?:authorit|regulat|ftc|bbb|dpa)",
        ),
    ),
    EscalationSign(
        "conduct",
        "complains about a staff member's conduct, makes a formal complaint, or reports "
        "harassment, threats, abuse, impersonation or a hacked account",
        _any(
            r"\b(?:rude|impolite|condescending|unprofessional|insulted|hung up on me|"
            r"harass\w*|threat(?:s|ened|ening)?|abus(?:e|ive)|impersonat\w*|hacked|"
            r"compromised|data breach)\b",
            r"\b(?:formal|file an?|lodge an?|make an?)\s+complaint|\bcomplain(?:t)? about\b",
            r"\b(?:grosero|reclamaci[oó]n|unh[öo]flich|beschwerde|impoli)\b|苦情|失礼",
            r"\blied to (?:me|us)\b|\byelled at (?:me|us)\b|\b(?:rep|agent|staff|employee|"
            r"salesperson|colleague|support person)\b(?:\W+\w+){0,3}?\W+(?:lied|yelled|swore|"
            r"mocked|insulted|was mean)\b",
            r"\b(?:disgusting|appalling|atrocious|shameful|pathetic|horrendous)\s+(?:customer\s+)?"
            r"(?:service|support)\b",
            r"\b(?:mal ?educad\w*|maleducad\w*|grosseri\w*|frech|malpoli|irrespectueu\w*|"
            r"scortes\w*)\b",
        ),
    ),
    EscalationSign(
        "repeated",
        "says they have already written or asked several times without a fix",
        _any(
            # "N times" counts with a verb of writing (next pattern): "hit 'forgot password' 3
            # times now, nothing in my inbox" repeats an action, not a contact
            r"\b(?:\d+|two|three|four|five|six|several|many|multiple)\s+(?:emails|messages|"
            r"tickets)\b(?:\W+\w+){0,4}?\W+(?:no|nobody|nothing|still|already|about)\b",
            r"\b(?:written|wrote|writing|contacted|emailed|asked|explained)\b(?:\W+\w+){0,4}?"
            r"\W+(?:\d+|two|three|four|five|six|several|many|multiple)\s+times\b",
            r"\b(?:third|fourth|fifth|sixth|\d+(?:rd|th))\s+(?:time|email|message|ticket)\b"
            r"(?:\W+\w+){0,3}?\W*(?:i'?m\s+|i\s+am\s+|i'?ve\s+)?(?:writ|ask|contact|"
            r"email|messag|about)",
            r"\b(?:third|fourth|fifth|sixth|\d+(?:rd|th))\s+(?:email|message)\b|"
            r"\bwrote many times\b|\bagain and again\b",
            r"\bno(?:body| one)\s+(?:ever\s+)?(?:replies|answers|responds|replied|answered|"
            r"responded|helps)|\bstill no (?:answer|response|reply)\b|\bignored for\b",
            r"\bla (?:\w+) vez que escribo|\bzum (?:\w+) mal\b|"
            r"何度も(?:問い合わせ|連絡|メール|お願い|書い|送っ|電話|質問|聞い)|"
            r"(?:troisi[eè]me|quatri[eè]me|cinqui[eè]me) fois",
            r"\b(?:escrito|escrib\w*|mandado|enviado|escrevi|mandei|enviei|geschrieben|"
            r"kontaktiert|[ée]crit|contact[ée]|scritto)\b(?:\W+\w+){0,3}?\W+(?:varias|v[áa]rias|"
            r"tres|tr[êe]s|mehrmals|mehrere|plusieurs|trois|diverse|tante)\b",
        ),
    ),
)


def escalation_signs(text: str) -> list[str]:
    """The names of the escalation signs `text` shows (empty: none)."""
    return [sign.name for sign in ESCALATION_SIGNS if sign.pattern.search(text)]


# The offline router: a linear classifier over word and character n-grams (trained by
# scripts/train_router.py on the train split, weights in data/router_weights.json), whose
# labels are these departments. Below its confidence threshold (chosen with the weights by
# cross-validation, in the weights file) triage asks one clarifying question.
ROUTER_LABELS: tuple[str, ...] = ("billing", "tech", "sales", "human", "clarify")


def routes_prompt(routes: tuple[Route, ...]) -> str:
    """The routing criteria of a table, for a prompt; a table with the `human` route also gets
    the escalation signs that override every other criterion."""
    lines = [route.as_prompt() for route in routes]
    human = next((r for r in routes if r.department == "human"), None)
    if human is not None:
        lines.append(
            f"Always hand off to `{human.agent}` (a person), whatever else the message asks, "
            "when it:"
        )
        lines += [f"- {sign.description};" for sign in ESCALATION_SIGNS]
        lines.append(
            "Requests in other languages follow the same criteria; answer in the user's language."
        )
    return "\n".join(lines)


def department_of(agent_path: list[str]) -> str | None:
    """The department of the last routed agent on the path (None if triage kept it)."""
    for name in reversed(agent_path):
        if name in AGENT_DEPARTMENTS:
            return AGENT_DEPARTMENTS[name]
    return None
