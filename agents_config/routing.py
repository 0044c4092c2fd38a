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
    r"agent|staff|whoever|senior|operator|rep|member of staff|support (?:ppl|people|engineer)"
)
_LAWYER = r"abogad|anwalt|anwält|avocat|advogad|avvocat|advocaat"
ESCALATION_SIGNS: tuple[EscalationSign, ...] = (
    EscalationSign(
        "person",
        "asks for a human, a person, an agent, a manager or a call back, in any language or in "
        "chat slang ('talk to a human', 'hooman pls', 'not a bot', 'hablar con una persona', "
        "'mit einem Menschen sprechen', '担当者と話したい', 'parler à un humain')",
        _any(
            rf"\b(?:talk|tlak|speak|speek|chat|connect|conect|transfer|put|escalate|reach|get|"
            rf"need|want|wana|wanna|loop in|hand me over|discuss this)\b(?:\W+\w+){{0,4}}?\W+"
            rf"(?:{_PERSON_NOUN}|humen|huamn|humna|hooman|persn|manger|managr|agnet|sum1|sb)\b",
            r"\b(?:can|could) (?:a|the|your) (?:manager|supervisor|human|person|real person|"
            r"senior)\b(?:\W+\w+){0,2}?\W+(?:take a look|look|call|review|step in)\b|"
            r"\ba call with (?:someone|somebody) from (?:your )?support\b|"
            r"\bhuman (?:support|in charge)\b",
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
            # is anybody there at all: a person asked for without naming one
            r"\bis (?:there )?(?:any|some)(?:one|body) (?:\w+ )?(?:real|reading|alive|"
            r"(?:on|at) your (?:side|end)|i can (?:actually )?(?:talk|speak))\b|"
            r"\b(?:talk|speak) to one of your (?:people|team|staff)\b|"
            r"\b(?:get|put|have) (?:me )?(?:someone|somebody|a person|a human)\b(?:\W+\w+){0,3}?"
            r"\W+(?:who|on this|on the phone|on a call)\b|"
            r"\b(?:someone|somebody|a manager|a person) (?:from|on) your (?:side|end|team)\b"
            r"(?:\W+\w+){0,4}?\W+(?:call|look|get on|take over|speak|talk)|"
            r"\b(?:rather|prefer to) (?:speak|talk) (?:with|to)\b|"
            r"\bautomated (?:assistant|system|bot|desk)|\b(?:a )?human (?:engineer|being|agent) on "
            r"this\b|respuestas autom[áa]ticas|r[ée]ponses (?:toutes faites|automatiques)|"
            r"automatische antworten|respostas autom[áa]ticas|risposte automatiche",
            r"\bhay alguien (?:real|de verdad)|de carne y hueso|\bp[aá]same con\b|"
            r"\bme (?:pasas|pasan|comunicas) con\b|"
            r"\bgibt(?:'?s| es)\b(?:\W+\w+){0,3}?\W+jemand(?:en)?\b|aus fleisch und blut|"
            r"\bmit jemandem (?:sprechen|reden)|\bverbinden sie mich\b|echten menschen|"
            r"\br[üu]ckruf\b|vraie personne|\biemand van jullie\b|"
            r"\by a-t-il (?:un humain|quelqu'?un)|en chair et en os|\bun vrai humain\b|"
            r"\bc'?[èe] qualcuno\b|in carne e ossa|\bmettere in contatto con\b|\bmi passi\b|"
            r"\b(?:tem|h[áa]) algu[ée]m\b|em carne e osso|\b(?:me )?passa(?:r)? (?:pra|para) "
            r"(?:algu[ée]m|um atendente|uma pessoa)|"
            r"真人|人工客服|人工服务|상담원|상담사|사람과|z człowiekiem|konsultant\w*|met een mens",
        ),
    ),
    EscalationSign(
        "legal",
        "threatens legal action or involves lawyers, courts, regulators or the police",
        _any(
            # "sue" and "court" are also Italian and French words ("le sue", "trop court")
            r"\b(?:sue (?:you|them|your|the|for|over)|suing|lawsuit|subpoena|ombudsman|"
            r"regulators?|police|law enforcement|legal (?:action|steps|proceedings)|"
            r"breach of contract|consumer protection|small[- ]claims|chargeback notification|"
            r"attorney general|"
            r"letter before action|formal notice|(?:pursue|claim(?:ing)?|seek) damages)\b",
            r"\b(?:to|in|into|see you in|take (?:you|this|it) to) court\b|\bcourt (?:case|order)\b",
            # a lawyer named as a threat, not as the one who needs an invoice
            r"\b(?:lawyers?|lawer|attorneys?|solicitors?|counsel|legal (?:team|department))\b"
            r"(?:\W+\w+){0,3}?\W+(?:will|'ll|are going to|is going to|preparing|advised|"
            r"be in touch|hear(?:ing)? from|get involved|is drafting|are drafting)\b|"
            r"\b(?:get|getting|involve|involving|contact|contacting|call|calling|"
            r"hand\w* (?:it|this) (?:over )?to|hear(?:ing)? from) (?:our|my|a|the) "
            r"(?:lawyers?|attorneys?|solicitors?|"
            r"legal (?:team|department))\b|\blawyers? involved\b|\bhave our lawyers\b|"
            r"\byour legal (?:team|department)\b|^\W*(?:lawyers?|attorneys?|court|legal)\W*$",
            r"\b(?:demandar\w*|verklagen|klage)\b|porter plainte|訴",
            # a lawyer as a threat in the other languages, as in English: not "I'm a lawyer
            # and I need the invoice"
            rf"\b(?:{_LAWYER})\w*\b(?:\W+\w+){{0,3}}?\W+(?:se pondr\w*|van a|va a|contactar\w*|"
            rf"einschalten|eingeschaltet|wird sich|werden sich|meldet|melden|vous contacter\w*|"
            rf"va vous|vont vous|vai entrar|v[ãa]o entrar|entrar[áa]|vi contatter\w*|"
            rf"scriver[àa]|sentir[àa])\b|\b(?:consultar|contactar|hablar con|llamar a|"
            rf"einschalten|saisir|contacter|consulter|acionar|procurar|contattare|sentire|"
            rf"rivolger\w* a|mit|an|à|ao|al|a) (?:(?:mi|mis|nuestro|nuestros|unseren|unserem|"
            rf"einen|meinen|mon|mes|notre|nos|meu|meus|nosso|nossos|il mio|i miei|il nostro|"
            rf"un|una|um|uma|an?) )?(?:{_LAWYER})|弁護士(?:に相談|を通じ|から連絡|に依頼)",
            r"\b(?:denunci\w*|processar (?:voc[êe]s|a empresa)|querela|"
            r"tribunal|gericht|poursuivre en justice|poursuites judiciaires)\b|"
            r"\bdata protection (?:authority|regulator)|"
            r"\breport(?:ing)? (?:you|this|it|them) to (?:the )?(?:authorit|regulat|ftc|bbb|dpa)",
            r"\b(?:cnil|ico|ftc|cfpb|bbb|aepd|procon|verbraucherzentrale|garante della privacy)\b|"
            r"\b(?:rechtliche|juristische|gerichtliche) schritte|mise en demeure|"
            r"action en justice|saisir (?:la justice|le tribunal|les tribunaux)|"
            r"entrar na justi[çc]a|a[çc][ãa]o judicial|vie legali|azion[ei] legal[ei]|"
            r"acciones legales|v[íi]a judicial|法的措置|訴訟|消費者センター",
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
            r"\b(?:formal|file an?|lodge an?|make an?)\s+complaint|\bcomplain(?:t)? about\b|"
            r"\bcomplaint filed\b|\b(?:disrespectful|arrogant|arrogante|unversch[äa]mt|abgewimmelt|"
            r"poco professionale)\b",
            r"\b(?:grosero|reclamaci[oó]n|unh[öo]flich|beschwerde|impoli)\b|苦情|失礼",
            r"\blied to (?:me|us)\b|\byelled at (?:me|us)\b|\b(?:rep|agent|staff|employee|"
            r"salesperson|colleague|support person)\b(?:\W+\w+){0,3}?\W+(?:lied|yelled|swore|"
            r"mocked|insulted|was mean)\b",
            r"\b(?:disgusting|appalling|atrocious|shameful|pathetic|horrendous)\s+(?:customer\s+)?"
            r"(?:service|support)\b",
            r"\b(?:mal ?educad\w*|maleducad\w*|grosseri\w*|grosseir\w*|frech|malpoli|"
            r"irrespectueu\w*|reclamar d[oa] atendimento|"
            r"scortes\w*)\b",
            # a member of the vendor's staff, and what they did to the customer
            r"\b(?:your|ur|the) (?:\w+ )?(?:rep|reps|salesperson|sales ?rep|support (?:guy|person|"
            r"agent|rep)|csm|account manager|trainer|consultant|employees?|engineers?|staff|"
            r"agent|guy)\b(?:\W+\w+){0,6}?\W+(?:laughed|sarcastic|dishonest|disrespectful|"
            r"ignore[sd]?|lied|mocked|swore|shouted|promised|never said|refused to|"
            r"shared (?:our|screenshots)|accessed our|without asking)\b|"
            r"\b\w+ from your \w+ team (?:was|is|has been|keeps|shared|refused|told)\b|"
            r"\bwhoever closed my ticket\b|\bcomportement (?:inacceptable|de votre)|"
            r"\batendente (?:foi|[ée]) (?:grosso|rude|mal)|\b(?:è stato|sono stati) (?:scortes|"
            r"maleducat|sgarbat)",
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
            r"\b(?:written|wrote|writing|contacted|emailed|asked (?:you|support|your team)|"
            r"explained)\b(?:\W+\w+){0,4}?"
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
            # written twice, again, repeatedly: a contact repeated, said any way
            r"\b(?:emailed|wrote|written|messaged|contacted|raised|reported|chased|asked you|"
            r"filled in your (?:contact )?form)\b"
            r"(?:\W+\w+){0,4}?\W+(?:twice|repeatedly|multiple times|again and again)\b|"
            r"\b(?:already|have)\s+(?:emailed|written|wrote|messaged|contacted)\b(?:\W+\w+){0,4}?"
            r"\W+(?:twice|before|again)\b|\b(?:contacted|emailed|chased) (?:you|your team) "
            r"repeatedly\b|\b(?:following|follow) up (?:again|for the)\b|"
            r"\bbump(?:ing)? (?:this )?(?:again|for the)\b|\bday \d+ of (?:asking|chasing|waiting)"
            r"|\bnot (?:my|the) first (?:message|email|ticket|time (?:i|we) (?:write|ask))|"
            r"\bevery (?:week|day|time) i (?:write|ask|email)|\bnot one (?:reply|answer|response)"
            r"|\bwriting for the (?:\w+) time\b|\bheard nothing back\b|\bhow many times do "
            r"(?:i|we) have to\b|\b(?:going|go) (?:a)?round in circles\b|\bexplained this in "
            r"(?:\w+ )?(?:different )?threads\b",
            r"\bya (?:les |te |os )?(?:mand[ée]|escrib[ií]|envi[ée]|llam[ée])\b(?:\W+\w+){0,3}?"
            r"\W+(?:dos|tres|varios|varias|otro|otra)\b|\b(?:zweimal|dreimal|viermal|mehrmals|"
            r"x-mal)\b(?:\W+\w+){0,4}?\W+(?:geschrieben|gemeldet|angerufen|nachgefragt|"
            r"kontaktiert)\b|\b(?:d[ée]j[àa]|d[ée]j[àa] plusieurs fois) (?:[ée]crit|relanc[ée]|"
            r"contact[ée])\b(?:\W+\w+){0,3}?\W+(?:deux|trois|plusieurs) fois\b|"
            r"\bgi[àa] scritto\b(?:\W+\w+){0,3}?\W+(?:due|tre|pi[ùu]|diverse) volte\b|"
            r"\bj[áa] (?:mandei|escrevi|enviei|liguei|abri)\b(?:\W+\w+){0,4}?\W+"
            r"(?:duas|dois|tr[êe]s|v[áa]rias|outro|outra)\b|\bal (?:twee|drie|vier|\d+) keer\b|"
            r"(?:[2-9２-９二三四五]|何)(?:度目|回目)|何回も(?:問い合わせ|連絡|メール)|再三",
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
