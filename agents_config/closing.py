"""A message that ends the conversation, and the desk's short reply to it.

"perfect, thank you", "gracias, eso es todo", "danke, das hat geholfen", "ありがとうございました":
the user asks for nothing more. The desk answers such a message itself, before any agent runs
(`Desk.handle`), with a warm line in the user's language: no specialist, no hand-over to staff,
no ticket opened for it; a ticket the desk has answered is resolved by its requester (the
"thanks, that solved it" path, which asks for a rating), and any other ticket is left as it is.

A message is a closing when it shows a closing sign (a thanks, "that solved it", "that's all")
and asks for nothing, in either of two ways:

- it says the problem is solved, with no doubt, question, contrast or new request in it
  ("that fixed it, my webhooks arrive again");
- or every word of it, once its closing signs are taken out, is politeness, an
  acknowledgement or a farewell ("awesome, thanks a lot for the help, have a good day"),
  but for at most a few words of its own with no word of a request in them ("but", "also",
  "can", "need", a question, a number, in every supported language) in which the router finds
  no topic ("legend, thanks!", "you're a star": a department it is sure of is a request).

A thanks that carries a request ("thanks, but it still fails", "thanks! also, a refund for
ORD-1001?", "gracias, pero quiero hablar con una persona") is not a closing: it is answered and
routed as any request. When in doubt the message is not a closing, so no request is ever lost.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from agents_config.offline.routing import has_topic

MAX_CLOSING_CHARS = 160

Language = Literal["en", "es", "de", "fr", "pt", "it", "ja", "nl"]
# What the ticket is after the closing: resolved now by the requester, with staff, or unchanged.
TicketState = Literal["resolved", "with_staff", "unchanged"]


@dataclass(frozen=True)
class ClosingMessage:
    """A closing message: the language of its closing sign, and whether it says the problem
    is solved (not only thanks)."""

    language: Language
    solved: bool


def _signs(patterns: dict[Language, str]) -> dict[Language, re.Pattern[str]]:
    return {language: re.compile(p, re.IGNORECASE) for language, p in patterns.items()}


_THANKS = _signs(
    {
        "en": r"\b(?:thank(?:s|\s*(?:you|u|ya))?|thanx|thnx|thx|thnks|tnx|ty|tysm|tyvm|"
        r"cheers|appreciated?|much obliged|kudos)\b",
        "es": r"\b(?:gracias|grax|agradezco|agradecid[oa]s?)\b",
        "de": r"\b(?:danke(?:sch[öo]n|\s+sch[öo]n|\s+sehr)?|(?:vielen|lieben|besten|"
        r"herzlichen|tausend)\s+dank|dank\s+dir|dank\s+ihnen)\b",
        "fr": r"\bmerci\b",
        "pt": r"\b(?:obrigad(?:[oa]s?|[ãa]o|ona)|brigad[oa]|valeu|agrade[çc]o)\b",
        "it": r"\b(?:grazie|ti ringrazio|vi ringrazio)\b",
        "ja": r"(?:どうも)?ありがと(?:う)?(?:ございま(?:す|した))?|助かりま(?:す|した)"
        r"|感謝(?:しています|します|いたします)?|お世話になりま(?:す|した)|どうも",
        "nl": r"\b(?:bedankt|dank\s+(?:je|u)(?:\s+wel)?|dankjewel|dankuwel)\b",
    }
)
# "Thanks, that solved it": the user says the problem is gone.
_SOLVED = _signs(
    {
        "en": r"\b(?:that|this|it|you)\W+(?:\w+\W+)?"
        r"(?:solved|fixed|sorted|resolved|did the trick)\b"
        r"|\b(?:that|this|it)\W+(?:worked|helped)\b"
        r"|\b(?:works|working) (?:now|again|fine now)\b|\ball (?:good|set|sorted|fixed) now\b"
        r"|\b(?:problem|issue|all) (?:solved|fixed|sorted|resolved)\b"
        r"|\byou can close (?:it|this|the ticket)\b|\bclose (?:the|this|my) ticket\b",
        "es": r"\b(?:lo )?(?:resolvi[óo]|solucion[óo]|funcion[óo])\b|\bya funciona\b"
        r"|\b(?:problema|ya est[áa]) resuelto\b",
        "de": r"\bhat (?:geholfen|funktioniert|geklappt)\b|\bfunktioniert (?:jetzt|wieder)\b"
        r"|\bproblem (?:gel[öo]st|behoben)\b",
        "fr": r"\b(?:ça|cela|c'est) (?:a )?(?:march[ée]|fonctionn[ée]|r[ée]gl[ée]|r[ée]solu)\b"
        r"|\bprobl[èe]me r[ée]solu\b",
        "pt": r"\b(?:resolveu|funcionou|deu certo|resolvido)\b",
        "it": r"\b(?:risolto|ha funzionato|funziona (?:ora|adesso))\b",
        "ja": r"解決しました|直りました|解決です",
        "nl": r"\b(?:opgelost|werkt weer|het werkt)\b",
    }
)
# "That's all": the user has nothing more to ask.
_DONE = _signs(
    {
        "en": r"\bthat'?s (?:all|it|everything)(?: (?:from|for) (?:me|us|now|today))?\b"
        r"|\bthat is (?:all|it)\b|\bnothing else\b"
        r"|\b(?:i'?m|we'?re) (?:all )?(?:good|set|sorted)\b|\ball (?:good|set)\b"
        r"|\b(?:that|this|it) answers? (?:my|the|our) questions?\b",
        "es": r"\b(?:eso )?(?:es|era|ser[íi]a) todo\b|\bnada m[áa]s\b",
        "de": r"\bdas (?:war'?s|war es|wär'?s|ist alles|wäre alles)\b"
        r"|\bmehr brauche? ich (?:nicht|gerade nicht)\b|\bsonst nichts\b",
        "fr": r"\bc'est tout\b|\brien d'autre\b",
        "pt": r"\b(?:era|é) s[óo] isso\b|\bs[óo] isso\b",
        "it": r"\b(?:è|era) tutto\b|\bnient'altro\b",
        "ja": r"以上です",
        "nl": r"\bdat was (?:het|alles)\b",
    }
)
# A doubt, a question, a contrast or a new request: a message that says it is solved but has
# one of these is answered as usual ("that fixed it, but now the export fails").
_NOT_ONLY_SOLVED = re.compile(
    r"[?¿]|\b(?:not|no|nothing|never|still|but|however|although|yet|anymore|any more|also|"
    r"another|btw|next|how|what|why|where|when|which|who|can|could|would|want|need|i'?d like|"
    r"please|pls)\b|n'?t\b|\d"
    r"|\b(?:pero|todav[íi]a|a[úu]n no|tambi[ée]n|aber|noch nicht|nicht|kein|auch|mais|"
    r"toujours|pas|aussi|mas|ainda|tamb[ée]m|ma|ancora|anche|maar|nog)\b"
    r"|ません|まだ|でも|それと|ところで",
    re.IGNORECASE,
)
# Phrases of politeness that hold a word which, alone, could carry a request ("help").
_POLITE_PHRASES = re.compile(
    r"\b(?:for|appreciate|por|pour|f[üu]r|pela|pelo|per|voor)\s+(?:all\s+)?(?:the|your|ur|la|su|tu|"
    r"votre|ton|ta|l'|die|ihre|deine|eure|sua|tua|o|a|je|jullie|uw)?\s*(?:[^\W\d_]+\s+)?"
    r"(?:help|helping|assistance|support|info|information|answer|reply|response|explanation|"
    r"time|patience|ayuda|respuesta|informaci[óo]n|aide|r[ée]ponse|hilfe|antwort|"
    r"unterst[üu]tzung|ajuda|resposta|aiuto|risposta|hulp)\b"
    r"|\b(?:exactly|just) what i (?:needed|was looking for|wanted)\b"
    r"|\bno (?:worries|problem|prob)\b"
    # English idioms whose nouns the router reads as topics ("stuff": an export of "all our
    # stuff" is a tech request)
    r"|\b(?:great|good) stuff\b|\b(?:sorting|sorted)\s+(?:that|this|it|everything)\s+out\b"
    r"|\b(?:been|was|were)\s+(?:(?:a|so|very|really|such|super)\s+)*"
    r"(?:(?:great|big|huge|real)\s+)?(?:help|helpful)\b",
    re.IGNORECASE,
)
_JA_POLITE = re.compile(
    r"ございました|ございます|しました|です|ます|本当に|ほんとうに|とても|大変|非常に|"
    r"了解|わかりました|分かりました|承知|大丈夫|問題ありません|よかった|良かった|"
    r"[、。！!…〜ー\s]"
)
# Words with no request in them: acknowledgements, intensifiers, pronouns, farewells
# (en, es, de, fr, pt, it, nl). Every remaining word of a closing must be one of these.
_POLITE_WORDS = frozenset(
    """
    i im me my we us our you u ur your ya yall y all it its that this s is was be been has have
    had m re ve ll d a an the and so very much lot lots loads tons heaps really truly again too once
    please pls plz many for
    more guys man mate buddy dude folks team everyone everybody bot today now then oh ah hey hi
    hello wow haha lol ok okay k kk okey alright right sure yes yep yeah yup cool great perfect
    awesome nice good brilliant excellent amazing wonderful fantastic sweet lovely helpful fab ace
    neat superb super gotcha got understood noted clear makes sense fine done set sorted solved
    fixed working works worked resolved everything exactly just needed kind of will try later
    bye goodbye cya see take care day one weekend evening morning night
    muchas muchísimas muchisimas mil muy por la su tu el de del todo todos eso es era está esta
    ya listo vale bueno buenísimo perfecto genial excelente estupendo súper bien amable saludos
    un hasta luego pronto adiós adios buen buena buenos día dia tarde noche resuelto solucionado
    entendido claro crack
    viele vielen herzlichen lieben besten dank schön schon sehr perfekt toll klasse prima alles
    klar gut das war es wäre ist hat jetzt wieder verstanden schönen tag abend wochenende
    tschüss tschüs bis dann später gruß grüße erledigt gelöst schönes schöne
    beaucoup bien mille fois infiniment parfait génial top nickel impeccable c est ce ça ca tout
    pour moi d accord compris bonne journée soirée au revoir à bientôt très vraiment encore vous
    votre
    muito muita muitíssimo perfeito ótimo otimo beleza show legal tudo certo isso só foi e bom
    boa tchau até mais abraço abraços entendi combinado
    tante molte infinite perfetto ottimo benissimo bene è tutto ok posto ora adesso capito
    va buona giornata serata ciao arrivederci gentilissimo gentilissima davvero
    heel erg wel hartelijk prima helemaal goed fijne doei je jullie
    """.split()
)
# mentions, emoji codes and Slack markup (`_thanks_` is "thanks" in italics)
_NOISE = re.compile(r"<[@#!][^>]*>|:[a-z0-9_+'-]+:|[*_~`>]")


def _flat(text: str) -> str:
    return " ".join(_NOISE.sub(" ", text.replace("’", "'").lower()).split())


def _first_sign(
    text: str, *tables: dict[Language, re.Pattern[str]]
) -> tuple[Language, re.Pattern[str]] | None:
    for table in tables:
        for language, pattern in table.items():
            if pattern.search(text):
                return language, pattern
    return None


# Words that ask for something or doubt the answer, in every supported language: a closing has
# none of them outside its politeness ("thanks, but…", "gracias, ¿y…", "danke, auch noch…").
_REQUEST = re.compile(
    r"\d|\b(?:but|still|not|no|never|nothing|nobody|none|nor|nichts|rien|nada|niente|nulla|"
    r"nenhum|though|however|except|also|another|btw|can|could|would|"
    r"will you|please|pls|plz|need|want|like to|how|what|why|where|when|which|who|help|"
    r"problem|issue|error|wrong|pero|todav[íi]a|a[úu]n|sigue|tambi[ée]n|adem[áa]s|puedo|"
    r"puede|quiero|necesito|c[óo]mo|d[óo]nde|cu[áa]ndo|ayuda|aber|noch|nicht|kein\w*|auch|"
    r"au[ßs]erdem|kann|k[öo]nnen|m[öo]chte|brauche|wie|wo|wann|warum|hilfe|mais|toujours|"
    r"pas|aussi|peux|pouvez|voudrais|veux|besoin|comment|o[ùu]|quand|pourquoi|aide|mas|"
    r"ainda|n[ãa]o|tamb[ée]m|posso|pode|quero|preciso|como|onde|quando|ajuda|ma|ancora|non|"
    r"anche|pu[òo]|vorrei|voglio|dove|perch[ée]|aiuto|maar|nog|niet|ook|wil|hoe|wat|waar)\b"
    r"|n't\b|でも|まだ|ません|ない|あと|それと|ところで|ください|たい|どう|何|いつ|どこ",
    re.IGNORECASE,
)
# A closing may hold a few words of its own ("legend, thanks!", "you're a star") when the
# router finds no topic in them: a department it would be this sure of is a request.
MAX_OWN_WORDS = 3
TOPIC_SURE = 0.6


def _remainder(text: str) -> str:
    """`text` without its closing signs and its polite phrases."""
    rest = _POLITE_PHRASES.sub(" ", text)
    for table in (_THANKS, _SOLVED, _DONE):
        for pattern in table.values():
            rest = pattern.sub(" ", rest)
    return _JA_POLITE.sub(" ", rest)


def _asks_nothing(text: str) -> bool:
    """Whether `text`, its closing signs taken out, asks for nothing: politeness words only,
    or a few words of its own with no request in them and no topic the router is sure of."""
    rest = _remainder(text)
    own = [word for word in re.findall(r"\w+", rest) if word not in _POLITE_WORDS]
    if not own:
        return True
    if len(own) > MAX_OWN_WORDS or _REQUEST.search(rest) or "?" in text or "¿" in text:
        return False
    return not has_topic(" ".join(rest.split()), TOPIC_SURE)


def closing_of(text: str) -> ClosingMessage | None:
    """The closing that `text` is, or None when it asks for anything (see the module's doc)."""
    flat = _flat(text)
    if not flat or len(flat) > MAX_CLOSING_CHARS:
        return None
    sign = _first_sign(flat, _THANKS, _SOLVED, _DONE)
    if sign is None:
        return None
    solved = _first_sign(flat, _SOLVED) is not None
    if solved and not _NOT_ONLY_SOLVED.search(flat):
        return ClosingMessage(sign[0], solved=True)
    if "?" not in flat and "¿" not in flat and _asks_nothing(flat):
        return ClosingMessage(sign[0], solved=solved)
    return None


_OPENERS: dict[Language, tuple[str, str]] = {  # (to a thanks, to "that solved it")
    "en": ("You're welcome!", "Glad that's sorted!"),
    "es": ("¡De nada!", "¡Me alegro de que esté resuelto!"),
    "de": ("Gern geschehen!", "Schön, dass es jetzt klappt!"),
    "fr": ("Avec plaisir !", "Ravi que ce soit réglé !"),
    "pt": ("De nada!", "Que bom que está resolvido!"),
    "it": ("Prego!", "Bene, felice che sia risolto!"),
    "ja": ("どういたしまして！", "解決してよかったです！"),
}
_TAILS: dict[Language, dict[TicketState, str]] = {
    "en": {
        "resolved": "I've closed ticket #{id}. If anything else comes up, just write in this "
        "thread.",
        "with_staff": "Ticket #{id} stays with our support staff; a person will follow up in "
        "this thread.",
        "unchanged": "If anything else comes up, just write here.",
    },
    "es": {
        "resolved": "He cerrado el ticket #{id}. Si necesita algo más, escriba en este hilo.",
        "with_staff": "El ticket #{id} sigue con nuestro equipo de soporte; una persona le "
        "responderá en este hilo.",
        "unchanged": "Si necesita algo más, escríbanos aquí.",
    },
    "de": {
        "resolved": "Ich habe das Ticket #{id} geschlossen. Wenn noch etwas ist, schreiben Sie "
        "einfach in diesen Thread.",
        "with_staff": "Das Ticket #{id} bleibt bei unserem Support-Team; eine Person meldet "
        "sich in diesem Thread.",
        "unchanged": "Wenn noch etwas ist, schreiben Sie uns einfach hier.",
    },
    "fr": {
        "resolved": "J'ai fermé le ticket #{id}. Si vous avez besoin d'autre chose, écrivez "
        "simplement dans ce fil.",
        "with_staff": "Le ticket #{id} reste entre les mains de notre équipe de support ; une "
        "personne vous répondra dans ce fil.",
        "unchanged": "Si vous avez besoin d'autre chose, écrivez-nous ici.",
    },
    "pt": {
        "resolved": "Fechei o ticket #{id}. Se precisar de mais alguma coisa, é só escrever "
        "nesta conversa.",
        "with_staff": "O ticket #{id} continua com a nossa equipe de suporte; uma pessoa vai "
        "responder nesta conversa.",
        "unchanged": "Se precisar de mais alguma coisa, é só escrever aqui.",
    },
    "it": {
        "resolved": "Ho chiuso il ticket #{id}. Se serve altro, basta scrivere in questa "
        "conversazione.",
        "with_staff": "Il ticket #{id} resta al nostro team di supporto; una persona risponderà "
        "in questa conversazione.",
        "unchanged": "Se serve altro, basta scriverci qui.",
    },
    "ja": {
        "resolved": "チケット #{id} をクローズしました。ほかにご用があれば、このスレッドに"
        "お書きください。",
        "with_staff": "チケット #{id} は引き続きサポート担当者が対応し、このスレッドで"
        "ご連絡します。",
        "unchanged": "ほかにご用があれば、こちらにお書きください。",
    },
}


# After "that solved it" the ticket is resolved and a rating asked for, in the same language:
# the requester's mention, then the ticket's number, fill the two {}.
_RATING_QUESTIONS: dict[str, str] = {
    "en": "{}, ticket #{} is resolved. How happy are you with the help you got? "
    "(1 = not at all, 5 = very)",
    "es": "{}, el ticket #{} está resuelto. ¿Qué tan satisfecho está con la ayuda recibida? "
    "(1 = nada, 5 = mucho)",
    "de": "{}, das Ticket #{} ist gelöst. Wie zufrieden sind Sie mit der Hilfe? "
    "(1 = gar nicht, 5 = sehr)",
    "fr": "{}, le ticket #{} est résolu. Êtes-vous satisfait de l'aide reçue ? "
    "(1 = pas du tout, 5 = très)",
    "pt": "{}, o ticket #{} está resolvido. Quão satisfeito você está com a ajuda recebida? "
    "(1 = nada, 5 = muito)",
    "it": "{}, il ticket #{} è risolto. Quanto è soddisfatto dell'aiuto ricevuto? "
    "(1 = per niente, 5 = molto)",
    "ja": "{} さん、チケット #{} は解決しました。今回のサポートにどのくらい満足されましたか？"
    "（1 = まったく満足していない、5 = とても満足）",
}


def rating_question(language: str) -> str:
    """The rating request after a resolve, in `language` (English for one the desk does not
    write): a template whose two {} are the requester's mention and the ticket's number."""
    return _RATING_QUESTIONS.get(language, _RATING_QUESTIONS["en"])


def closing_reply(closing: ClosingMessage, state: TicketState, ticket_id: int | None) -> str:
    """The desk's short reply to a closing, in its language (English for one the desk does not
    write): a thanks gets "You're welcome!", a solved problem "Glad that's sorted!", then what
    became of the ticket (`ticket_id` is needed unless `state` is "unchanged")."""
    language: Language = closing.language if closing.language in _OPENERS else "en"
    opener = _OPENERS[language][1 if closing.solved else 0]
    return f"{opener} {_TAILS[language][state].format(id=ticket_id)}"
