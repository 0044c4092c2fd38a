"""Text helpers shared by the offline engine: words and stems, ids, sentences, the marker."""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

MARKER = "_(answered by the offline engine)_"

_WORD = re.compile(r"[a-z0-9]+")
_NOT = re.compile(r"n['’]t\b")
STOPWORDS = frozenset(
    """a about am an and any are as asks at be been but by can could do does doing for from get
    got had has have how i im if in into is it its just me my no of on or our please so than
    that the their them then there these they this those to too up us was we were what when
    where which who why will with would you your wants considers makes other ca wo""".split()
)
# Words that say something is wrong, or that help is wanted, but not what about. They add to a
# route's score, but a route matched by such words alone is not taken ("it doesn't work").
_VAGUE_WORDS = (
    "problem issue wrong broken broke work working not help question thing something account "
    "someone somebody again still urgent asap weird update fix team product request order "
    "change set show cannot look stopped not_work"
)

EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
AMOUNT = re.compile(r"[$€£]\s?(\d+(?:[.,]\d{1,2})?)|(\d+(?:\.\d{1,2})?)\s?(?:usd|eur|gbp|dollars)")
DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")
NUMBER = re.compile(r"\b\d+\b")
SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
# Plans and service components the demo business names; tools match them case-insensitively.
NAMED = re.compile(
    r"\b(Starter|Pro|Business|Enterprise|API|Dashboard|Webhooks?|SSO|Mobile|"
    r"Email|Login)\b",
    re.I,
)


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """Strip one common suffix, so charge/charged/charges and refund/refunds/refunded meet."""
    for suffix, keep in (("ies", "y"), ("ing", ""), ("ed", ""), ("es", ""), ("s", ""), ("e", "")):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3 and not word.endswith("ss"):
            word = word[: len(word) - len(suffix)] + keep
            break
    if len(word) > 3 and word[-1] == word[-2] and word[-1] not in "lsz":
        word = word[:-1]  # stopped -> stopp -> stop
    return word


def words(text: str) -> list[str]:
    return _WORD.findall(_NOT.sub(" not", text.lower()).replace("'", "").replace("’", ""))


def phrase(text: str) -> str:
    """All words of `text`, stemmed, stopwords kept: how multi-word keywords are matched."""
    return " ".join(stem(w) for w in words(text))


def content_stems(text: str) -> list[str]:
    return [stem(w) for w in words(text) if w not in STOPWORDS]


ID_PREFIXES = {"order": "ORD", "invoice": "INV", "payment": "PAY", "refund": "RF", "bug": "BUG"}
ID = re.compile(rf"\b({'|'.join(ID_PREFIXES.values())})[-\s]?\d+\b", re.I)
VAGUE = frozenset(phrase(w.replace("_", " ")) for w in _VAGUE_WORDS.split())


def terms(text: str, phrases: Iterable[str] = (), *, id_nouns: bool = False) -> set[str]:
    """The stems of `text` and the multi-word `phrases` it contains; with `id_nouns`, also the
    noun of each id in it (INV-2003 speaks of an invoice)."""
    padded = f" {phrase(text)} "
    found = set(content_stems(text)) | {p for p in phrases if " " in p and f" {p} " in padded}
    if id_nouns:
        by_prefix = {prefix: noun for noun, prefix in ID_PREFIXES.items()}
        found |= {stem(by_prefix[m.upper()]) for m in ID.findall(text)}
    return found


def topic_stems(text: str) -> set[str]:
    """What a topic or question is about: its content stems, without the vague words."""
    return set(content_stems(text)) - VAGUE


def first_sentence(text: str, limit: int = 90) -> str:
    sentence = SENTENCE.split(text.strip(), maxsplit=1)[0]
    return shorten(sentence, limit)


def shorten(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def sentences(text: str) -> list[str]:
    """The sentences of `text` (lines are split too), stripped, empty ones dropped."""
    return [s.strip() for s in SENTENCE.split(text) if s.strip()]


def signed(text: str) -> str:
    """An offline answer: the text, then the marker that says the offline engine wrote it."""
    return f"{unsigned(text)}\n\n{MARKER}"


def unsigned(text: str) -> str:
    """`text` without the offline marker (an offline answer read back as input)."""
    return text.replace(MARKER, "").strip()


_EMPHASIS = re.compile(r"\*\*|__|(?<!\w)[*_](?=\S)|(?<=\S)[*_](?!\w)")


def plain(markdown: str) -> str:
    """One line of Markdown as plain text: no list marker, heading marks or emphasis."""
    line = re.sub(r"^\s*(?:[-*•]|\d{1,2}[.)]|#+|>)\s+", "", markdown.strip())
    return _EMPHASIS.sub("", line).strip()


def join_words(items: Iterable[str], conjunction: str = "and") -> str:
    """ "a", "a and b", "a, b and c"."""
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} {conjunction} {items[-1]}"


def plural(count: int, noun: str, many: str | None = None) -> str:
    return f"{count} {noun if count == 1 else many or noun + 's'}"


_NUMBER_WORDS = (
    "no",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
)


def number_word(count: int) -> str:
    """A count in words ("two"), where a figure could pass for a claim."""
    return _NUMBER_WORDS[count] if 0 <= count < len(_NUMBER_WORDS) else str(count)


def counted(count: int, noun: str) -> str:
    """ "two articles", "one article", "no articles"."""
    return f"{number_word(count)} {noun}{'' if count == 1 else 's'}"


# The key terms in the other languages the desk routes (the help centre and the tools' triggers
# are in English).
FOREIGN_TERMS = (
    (re.compile(r"\b(?:mi|mis|mein\w*|mon|ma|mio|mia|meu|minha)\b|私の"), " my "),
    (re.compile(r"contraseña|passwort|mot de passe|パスワード"), " password "),
    (re.compile(r"iniciar sesión|anmelden|einloggen|connecter|connexion|ログイン"), " sign in "),
    (re.compile(r"exportar|exportieren|exporter|エクスポート"), " export "),
    (re.compile(r"\bdatos\b|\bdaten\b|données|データ"), " data "),
    (
        re.compile(r"doble factor|zwei-?faktor|double authentification|二段階認証|二要素"),
        " two-factor authentication ",
    ),
    (re.compile(r"factura|rechnung|facture|請求書"), " invoice "),
    (re.compile(r"reembolso|erstattung|rückerstattung|remboursement|返金"), " refund "),
    (re.compile(r"tarjeta|karte|carte bancaire|カード"), " card "),
    (re.compile(r"cancel\w+|kündig\w*|résilier|解約"), " cancel subscription "),
    (
        re.compile(r"suscripci[oó]n|abonnement|abo\b|assinatura|abbonamento|サブスク"),
        " subscription ",
    ),
    # Sitting F's glossary: the other key terms of billing, tech and sales, in Spanish, German,
    # French, Portuguese, Italian and Japanese (the words a request turns on, not its topic's
    # every phrasing), so the models and the rules read an unseen wording by its English.
    (re.compile(r"\bpagos?\b|zahlung|paiement|pagamento|支払"), " payment "),
    (
        re.compile(r"\bcobr[aoé]\w*|abgebucht|abbuchung|débit[ée]|prélèvement|引き落とし"),
        " charged ",
    ),
    (re.compile(r"dos veces|doppelt|deux fois|duas vezes|due volte|2回|二重"), " twice "),
    (
        re.compile(r"rechaz\w*|abgelehnt|refusée?|recusad\w*|rifiutat\w*|通りません|拒否"),
        " declined ",
    ),
    (re.compile(r"recibo|quittung|\breçu\b|ricevuta|領収書"), " receipt "),
    (re.compile(r"nota fiscal|fattura|\bfatura"), " invoice "),
    (
        re.compile(
            r"precios?\b|cu[aá]nto cuesta|\bcuesta\b|\bpreis\w*|\bkostet\b|\bprix\b|co[uû]te|"
            r"combien|preços?\b|quanto custa|\bcusta\b|prezz[oi]|料金|価格|値段|いくら"
        ),
        " price cost ",
    ),
    (
        re.compile(
            r"prueba gratis|per[ií]odo de (?:prueba|teste)|testphase|testzeitraum|kostenlos testen|"
            r"probezeit|essai gratuit|p[ée]riode d'essai|teste gr[aá]tis|prova gratuita|"
            r"無料トライアル|お試し|トライアル"
        ),
        " free trial ",
    ),
    (
        re.compile(
            r"demostraci[oó]n|vorf[uü]hr\w*|démonstration|demonstra[çc][aã]o|dimostrazione|デモ"
        ),
        " demo ",
    ),
    (
        re.compile(r"cotizaci[oó]n|presupuesto|\bangebot\b|\bdevis\b|or[çc]amento|preventivo|見積"),
        " quote ",
    ),
    (re.compile(r"descuento|rabatt|\bremise\b|réduction|desconto|sconto|割引"), " discount "),
    (re.compile(r"\bfehler\w*|erreur|\berro\b|errore|エラー"), " error "),
    (
        re.compile(
            r"se cierra|se cuelga|st[uü]rzt\w* ab|abst[uü]rz\w*|\bplante\b|\btrava\b|fecha sozinho|"
            r"si blocca|落ちる|クラッシュ"
        ),
        " crash ",
    ),
    (re.compile(r"aplicaci[oó]n|aplicativo|applicazione|アプリ"), " app "),
    (re.compile(r"sincroniz\w*|synchronis\w*|同期"), " sync "),
    (
        re.compile(r"no carga|l[äa]dt nicht|ne charge pas|n[ãa]o carrega|non carica|読み込"),
        " not loading ",
    ),
    (
        re.compile(r"ca[íi]da|störung|ausfall|\bpanne\b|fora do ar|interruzione|障害|ダウン"),
        " outage down ",
    ),
    (re.compile(r"\bentrar\b|\bacceder\b|acc[ée]der|\bacessar\b|accedere"), " sign in "),
    (re.compile(r"\bsenha\b"), " password "),
    (re.compile(r"bloquead\w*|gesperrt|bloqu[ée]e?\b|bloccat\w*|ロック"), " locked "),
    (
        re.compile(r"verificaci[oó]n|best[äa]tigungs\w*|vérification|verifica[çc][aã]o"),
        " verification email ",
    ),
    (re.compile(r"\biva\b|\bmwst\b|\bust\b|ust-id\w*|\btva\b|imposto|消費税"), " tax vat "),
    (
        re.compile(r"transferencia|überweisung|virement|transferência|bonifico|振込"),
        " bank transfer ",
    ),
    (
        re.compile(
            r"dsgvo|\brgpd\b|protecci[oó]n de datos|datenschutz|protection des données|"
            r"prote[çc][aã]o de dados"
        ),
        " gdpr privacy ",
    ),
    (
        re.compile(r"usuarios|\bnutzer\b|benutzer|utilisateurs|usu[aá]rios|\butenti\b|ユーザー"),
        " users ",
    ),
    (re.compile(r"navegador|navigateur|ブラウザ"), " browser "),
    (re.compile(r"notificaci\w*|benachrichtigung\w*|通知"), " notifications "),
    (re.compile(r"\bdebo\b|pendiente de pago|je dois|quanto devo|\bschulde\w*"), " owe balance "),
    (re.compile(r"historial|verlauf|historique|hist[óo]rico|履歴"), " history "),
    (re.compile(r"rimborso|estorno|devoluci[oó]n|devolução"), " refund "),
    # Session 6: buying a team's worth (the words of a purchase, not of a bill).
    (
        re.compile(r"\banual\w*|j[äa]hrlich\w*|\bannuel\w*|\bannual\w*|年間|年払い|年額"),
        " annual ",
    ),
    (re.compile(r"licen[cç]\w*|\blizenz\w*|licenz\w*|ライセンス|シート"), " licences seats "),
    (
        re.compile(r"\bcomprar\b|\bkaufen\b|\bacheter\b|\bacquistare\b|購入|導入"),
        " buy ",
    ),
    (re.compile(r"\bcontrat\w*|\bvertrag\w*|契約"), " contract "),
    (
        re.compile(r"alojad\w*|gehostet|h[ée]berg\w*|hospedad\w*|ホスティング|\bhosting\b"),
        " hosted data ",
    ),
    (
        re.compile(
            r"\bequipo de \d+|\bteam (?:von|de) \d+|[ée]quipe de \d+|equipe de \d+|"
            r"\d+ (?:personas|personen|personnes|pessoas|persone|mitarbeiter\w*|empleados)|\d+人"
        ),
        " team of 10 users ",
    ),
    (re.compile(r"comparar|vergleich\w*|\bcomparer\b|confrontare|比較|違い"), " compare "),
    (
        re.compile(r"proveedor\w*|anbieter\w*|fournisseur\w*|fornecedor\w*|fornitor\w*|ベンダー"),
        " vendor ",
    ),
    (
        re.compile(r"\bevalua\w*|\bpr[üu]fen\b|\bévalu\w*|\bavalia\w*|\bvaluta\w*|検討"),
        " evaluating ",
    ),
)


@lru_cache(maxsize=8192)
def english_terms(text: str) -> tuple[str, ...]:
    """The English of the key terms `text` has in the other languages ("factura": "invoice").
    (Cached: the rules read the same request many times a turn.)"""
    lowered = text.lower()
    return tuple(english for pattern, english in FOREIGN_TERMS if pattern.search(lowered))


@lru_cache(maxsize=8192)
def in_english(text: str) -> str:
    """`text` followed by the English of its key terms in the other languages ("factura" adds
    "invoice"), so that the tools' triggers read them."""
    return " ".join(" ".join([text, *english_terms(text)]).split())
