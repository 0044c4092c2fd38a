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


# A machine code as users paste it from an error or a bank's answer: `authentication_required`,
# do_not_honor, `rate_limit_exceeded` (lower-case words joined by underscores; not a parameter,
# a path or a call: `?updated_since=`, `my_file.py`, `do_thing()`).
MACHINE_CODE = re.compile(r"(?<![\w./?&=-])[a-z][a-z0-9]*(?:_[a-z0-9]+)+(?![\w=(/-]|\.\w)")
# A clause that speaks of an error, a decline or a meaning ("the bank says do_not_honor", "what
# does expired_card mean?"): a code quoted there is what the user needs explained. A code in any
# other clause ("our field is called authentication_required") is just a name.
_CLAUSE_END = re.compile(r"[!?;()\[\]\n。？！]|\.(?!\S)")
_ASKS_ABOUT_CODE = re.compile(
    r"\b(?:mean(?:s|ing|t)?|error|errors|declin\w*|fail\w*|reject\w*|refus\w*|bank|card|codes?|"
    r"reason|says?|said|saying|shows?|showing|shown|got|get|gets|getting|return\w*|response|"
    r"status|message|throws?|throwing|appears?|significa\w*|rechaz\w*|fall[oó]\w*|banco|"
    r"tarjeta|c[oó]digo|dice|bedeutet|fehler\w*|abgelehnt\w*|karte|meldung|signifie|erreur|"
    r"banque|carte|erro|recusad\w*|cart[aã]o|errore|rifiutat\w*|banca|carta|codice)\b"
    r"|意味|エラー|拒否|表示|失敗|カード|銀行",
    re.I,
)


def machine_codes(text: str) -> list[str]:
    """The machine codes `text` quotes (`MACHINE_CODE`), lower-cased, in order."""
    return MACHINE_CODE.findall(text.lower())


@lru_cache(maxsize=4096)
def asked_codes(request: str) -> tuple[str, ...]:
    """The machine codes a request asks about: those quoted in a clause that speaks of an error,
    a decline or a meaning, or that the clause is made of ("`do_not_honor`?"). (Cached: the
    router, the search, the article's choice and its passage all read them.)"""
    asked: list[str] = []
    for clause in _CLAUSE_END.split(request):
        codes = machine_codes(clause)
        bare = not re.sub(r"[\W_]+", "", MACHINE_CODE.sub("", clause.lower()))
        if codes and (bare or _ASKS_ABOUT_CODE.search(MACHINE_CODE.sub(" ", clause.lower()))):
            asked += codes
    return tuple(dict.fromkeys(asked))


ID_PREFIXES = {"order": "ORD", "invoice": "INV", "payment": "PAY", "refund": "RF", "bug": "BUG"}
# An id's edges in ASCII, not \b: Japanese writes "ORD-1001の返金" with no space, and の is a
# word character
ID_START, ID_END = r"(?<![a-z0-9_])", r"(?![a-z0-9_])"
# Words that point back at something named earlier in the thread, in the other languages
# ("¿y esa?", "e essa?", "ist diese…?"): a follow-up, not a new question.
POINTING_BACK = (
    r"ese|esa|eso|isso|essa|esse|quello|quella|questo|questa|ça|cela|dieser|diese|dieses"
)
ID = re.compile(rf"{ID_START}({'|'.join(ID_PREFIXES.values())})[-\s]?\d+{ID_END}", re.I)
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
    (
        re.compile(
            r"tarjeta|karte|carte bancaire|carte de cr[ée]dit|cart[ãa]o|carta di credito|カード"
        ),
        " card ",
    ),
    # (Spanish and Portuguese "cancelar"; not English "cancelled", which a card or an order can be,
    # nor Italian "cancellato", which is "deleted")
    (
        re.compile(
            r"\bcancel(?:ar|o|é|e|ei|ou|amos|aci[oó]n|amento)\b|kündig\w*|r[ée]sili\w*|"
            r"\bdisdir\w*|\bdisdett\w*|解約"
        ),
        " cancel subscription ",
    ),
    (
        re.compile(r"suscripci[oó]n|abonnement|abo\b|assinatura|abbonamento|サブスク"),
        " subscription ",
    ),
    # Sitting F's glossary: the other key terms of billing, tech and sales, in Spanish, German,
    # French, Portuguese, Italian and Japanese (the words a request turns on, not its topic's
    # every phrasing), so the models and the rules read an unseen wording by its English.
    (
        re.compile(
            r"\balter(?:ar|o|ei)\b|\bcambi(?:ar|o|é|are)\b|\b(?:ä|ae)nder\w*|\bchanger\b|"
            r"\bmodifi(?:er|car|care)\b|\btrocar\b|変更"
        ),
        " change update ",
    ),
    (
        re.compile(
            r"zahlungs(?:methode|mittel|art)|m[ée]todo de pago|moyen de paiement|"
            r"mode de paiement|forma de pagamento|m[ée]todo de pagamento|metodo di pagamento|"
            r"支払(?:い)?方法"
        ),
        " payment method ",
    ),
    (re.compile(r"\bpagos?\b|zahlung|paiement|pagamento|支払(?!う必要)"), " payment "),
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
            r"combien(?! de (?:temps|jours|fois))|preços?\b|quanto custa|\bcusta\b|prezz[oi]|"
            r"料金|価格|値段|いくら"
        ),
        " price cost ",
    ),
    (
        re.compile(
            r"prueba gratu?i\w*|per[ií]odo de (?:prueba|teste)|testphase|testzeitraum|"
            r"kostenlos testen|probezeit|essai gratuit|p[ée]riode d'essai|teste gr[aá]tis|"
            r"prova gratuita|無料トライアル|お試し|トライアル"
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
    (
        re.compile(
            r"\bdebo\b|\bdebemos\b|pendiente de pago|\b(?:je|nous|on) (?:vous |te )?(?:dois|"
            r"devons|doit)\b|\bquanto (?:eu |n[óo]s )?(?:devo|devemos|dobbiamo)\b|\bschulde\w*|"
            r"いくら(?:払|支払)|支払う必要|未払い|残高"
        ),
        " owe balance ",
    ),
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
    # Session 8: the key terms of each help-centre article that the glossary lacked, in the
    # same six languages (each article's own subject, not any request's wording).
    (
        re.compile(
            r"copias? de seguridad|\bsicherung\w*|sauvegard\w*|c[óo]pias? de seguran[çc]a|"
            r"バックアップ"
        ),
        " backups ",
    ),
    (
        re.compile(r"\bcifrad\w*|verschl[üu]ssel\w*|chiffr\w*|criptograf\w*|crittograf\w*|暗号化"),
        " encryption ",
    ),
    (
        re.compile(
            r"\bconserv[ae]\w*|aufbewahr\w*|\bretenç\w*|\bretenci[oó]n|conservazione|保存期間|保管"
        ),
        " retention kept ",
    ),
    (
        re.compile(r"\belimin\w*|\bborrad\w*|gel[öo]scht|l[öo]schen|supprim\w*|exclu[ií]d\w*|削除"),
        " deleted ",
    ),
    (
        re.compile(r"cuestionario|fragebogen|questionn?[aá]ri[oe]|質問票|アンケート"),
        " security questionnaire ",
    ),
    (
        re.compile(r"disponibilidad|verf[üu]gbarkeit|disponibilit[ée]|disponibilidade|稼働率"),
        " uptime sla ",
    ),
    (
        re.compile(r"restablecer|zur[üu]cksetzen|r[ée]initialis\w*|redefinir|reimpostare|リセット"),
        " reset ",
    ),
    (re.compile(r"\bolvid\w*|vergessen|oubli[ée]|esqueci\w*|dimenticat\w*|忘れ"), " forgot "),
    (re.compile(r"\batributos?\b|\battribut\w*|属性"), " attributes "),
    (
        re.compile(
            r"inicio de sesi[oó]n [uú]nico|einmalanmeldung|authentification unique|"
            r"login [uú]nico|accesso unico|シングルサインオン|proveedor de identidad|"
            r"identit[äa]tsanbieter|fournisseur d'identit[ée]|provedor de identidade|"
            r"provider di identit[àa]|idプロバイダ"
        ),
        " sso saml identity provider ",
    ),
    (
        re.compile(
            r"llaves? de seguridad|sicherheitsschl[üu]ssel|cl[ée]s? de s[ée]curit[ée]|"
            r"chaves? de seguran[çc]a|chiav[ei] di sicurezza|セキュリティキー"
        ),
        " security key two-factor ",
    ),
    (
        re.compile(
            r"c[óo]digos? de recupera\w*|wiederherstellungs\w*|codes? de r[ée]cup[ée]ration|"
            r"codici di recupero|リカバリーコード|復旧コード"
        ),
        " recovery codes two-factor ",
    ),
    (re.compile(r"\bl[íi]mite\w*|\bbegrenz\w*|\bdrossel\w*|制限|上限"), " limit "),
    (
        re.compile(
            r"clave (?:de )?api|api-schl[üu]ssel|cl[ée] (?:d'?)?api|chave (?:de )?api|apiキー"
        ),
        " api key ",
    ),
    (
        re.compile(
            r"id de (?:la )?solicitud|anfrage-?id|identifiant de (?:la )?requ[êe]te|"
            r"id da requisi[çc][aã]o|id della richiesta|リクエスト\s?id"
        ),
        " request id ",
    ),
    (
        re.compile(
            r"hoja de c[áa]lculo|tabellen\w*|tableur|planilha|foglio di calcolo|スプレッドシート"
        ),
        " spreadsheet csv export ",
    ),
    (re.compile(r"direcci[oó]n|\badresse\b|endere[çc]o|indirizzo|住所"), " address "),
    (
        re.compile(
            r"\bexent[oa]s?\b|steuerbefreit|exon[ée]r[ée]\w*|\bisent[oa]s?\b|esente|免税|非課税"
        ),
        " tax exempt ",
    ),
    (
        re.compile(r"vencid\w*|[üu]berf[äa]llig|en retard|atrasad\w*|scadut\w*|延滞|期限切れ"),
        " overdue expired ",
    ),
    (
        re.compile(
            r"\bong\b|sin [áa]nimo de lucro|sin fines de lucro|gemeinn[üu]tzig\w*|"
            r"but non lucratif|sem fins lucrativos|senza scopo di lucro|非営利"
        ),
        " nonprofit discount ",
    ),
    (
        re.compile(
            r"escuela|universidad|\bschule\b|universit[äa]t|[ée]cole|escola|scuola|学校|大学"
        ),
        " school education discount ",
    ),
    (
        re.compile(
            r"prorrat\w*|anteilig\w*|\bpro[ -]?rata\b|proporcional\w*|proporzional\w*|日割り"
        ),
        " prorated proration ",
    ),
    (
        re.compile(
            r"cambiar de plan|plan (?:inferior|superior)|tarif wechseln|herabstuf\w*|"
            r"changer de (?:forfait|formule|plan)|mudar de plano|cambiare piano|プラン変更|"
            r"ダウングレード|アップグレード"
        ),
        " change plan upgrade downgrade ",
    ),
    (
        re.compile(r"por adelantado|im voraus|[àa] l'avance|antecipad\w*|in anticipo|前払い"),
        " billing cycle in advance ",
    ),
    (
        re.compile(r"\bmensual\w*|\bmonatlich\w*|\bmensuel\w*|\bmensal\w*|\bmensil\w*|毎月|月額"),
        " monthly ",
    ),
    (
        re.compile(r"reactiv\w*|wieder aktivier\w*|r[ée]activ\w*|riattiv\w*|再開|再有効"),
        " reactivate ",
    ),
    (re.compile(r"\bsignatur\b|署名"), " signature "),
    (
        re.compile(r"autenticaci[oó]n|authentifizierung|authentification|autentica[çz]\w*"),
        " authentication ",
    ),
)


# Single sign-on in the user's words. Sign-in trouble that names it is SSO trouble: the SSO
# article, not the password one.
SSO_NAMES = re.compile(
    r"\bsso\b|\bsingle sign[\s-]?on\b|\bsaml\b|\bokta\b|\bazure ad\b|\bentra\b|\bonelogin\b|"
    r"\bjumpcloud\b|\badfs\b|\bping ?(?:identity|federate|one)\b|\bidp\b|シングルサインオン"
)
PASSWORD_TERMS = "reset password sign in"
# The help centre's words for what users often say differently ("throttled" is "rate limits
# 429", a YubiKey is a security key): read with the request by the knowledge-base query and by
# the answer models (`help_centre_terms`).
HELP_CENTRE_TERMS = (
    (SSO_NAMES, " sso saml "),
    (re.compile(r"too many requests|throttl\w*"), " rate limits 429 "),
    (
        re.compile(r"testphase|probezeit|prueba gratis|essai gratuit|無料トライアル|お試し"),
        " free trial ",
    ),
    (re.compile(r"\blog(?:g?ing|ged)?[\s-]?(?:in|on)\b|\blogins?\b|\bsign[\s-]?on\b"), "sign in"),
    # a receipt is what the help centre calls an invoice
    (re.compile(r"\breceipts?\b|\bquittung\w*|\bricevut\w*|領収書"), " invoice "),
    # Sign-in trouble in the user's words: the password article.
    (
        re.compile(
            r"\b(?:pw|pwd|passw\w*|pasword|passwrod)\b|\blocked\b|\bblocked (?:out|me|us)\b|"
            r"\b(?:account|login|user|profile)\W+(?:\w+\W+){0,2}?blocked\b|"
            r"(?:can'?t|cannot|unable to|couldn'?t) (?:get|log|sign) in|"
            r"\bsign in (?:error|problem|issue|fail\w*|not work\w*|does\s?n.?t work)|"
            r"\bcan'?t access\b|\bget in\b|verification e-?mail|"
            r"confirmation e-?mail|magic link|reset (?:link|e-?mail)|invalid credentials"
        ),
        PASSWORD_TERMS,
    ),
    (
        re.compile(
            r"\b(?:phone number|new phone|lost (?:my )?phone|authenticator|sms code|2fa|mfa)\b"
        ),
        "two-factor authentication",
    ),
    # Session 9: names users give the help centre's terms (a brand for the thing, a plainer
    # word), each an article's subject, none any one request's wording.
    (
        re.compile(r"\byubi ?keys?\b|\bhardware (?:security )?keys?\b|\bpasskeys?\b|\bfido2?\b"),
        " security key two-factor ",
    ),
    (re.compile(r"\bcharit(?:y|ies|able)\b|\bnon-?profits?\b|\bngos?\b"), " nonprofit "),
    (re.compile(r"\bamex\b|\bamerican express\b|\bmastercard\b|\bcredit card\b"), " card "),
    (
        re.compile(
            r"\b(?:talk|speak|chat|contact|reach|get in touch)\w*\W+(?:\w+\W+){0,2}?sales\b|"
            r"\bsales (?:team|rep\w*|people|person|department)\b"
        ),
        " sales team demo enterprise ",
    ),
    (
        re.compile(
            r"\bmov\w* down\b|\b(?:lower|smaller|cheaper) (?:tier|plan)\b|\bdowngrad\w*|"
            r"\bstep down\b"
        ),
        " change plan downgrade ",
    ),
    (
        re.compile(
            r"\b(?:id|identifier|reference) of (?:the |that |a )?(?:\w+ )?(?:call|request)\b|"
            r"\b(?:trace|correlation|request)[\s_-]?ids?\b"
        ),
        " request id ",
    ),
)


@lru_cache(maxsize=8192)
def english_terms(text: str) -> tuple[str, ...]:
    """The English of the key terms `text` has in the other languages ("factura": "invoice").
    (Cached: the rules read the same request many times a turn.)"""
    return _terms_of(FOREIGN_TERMS, text)


@lru_cache(maxsize=8192)
def help_centre_terms(text: str) -> tuple[str, ...]:
    """The help centre's words for what `text` says in its own (`HELP_CENTRE_TERMS`)."""
    return _terms_of(HELP_CENTRE_TERMS, text)


def _terms_of(table: tuple[tuple[re.Pattern[str], str], ...], text: str) -> tuple[str, ...]:
    """The words a table of (pattern, words) gives for `text`, in the table's order."""
    lowered = text.lower()
    return tuple(words for pattern, words in table if pattern.search(lowered))


@lru_cache(maxsize=8192)
def in_english(text: str) -> str:
    """`text` followed by the English of its key terms in the other languages ("factura" adds
    "invoice"), so that the tools' triggers read them."""
    return " ".join(" ".join([text, *english_terms(text)]).split())
