"""`KnowledgeBase`: help-centre articles with full-text search (SQLite FTS5 with bm25 ranking,
or PostgreSQL's tsvector with a GIN index and ts_rank: `search` is the one interface).

User text never reaches FTS5 as syntax: `fts_query` keeps only the words, quotes each one and
ORs them, so `"refund" OR (* NEAR` is searched as the words refund, or, near — never parsed.

Articles ship as Markdown files with a small front matter block (see `parse_article`).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass

from storage.db import Database, Row, is_database_error
from storage.redaction import scrub

log = logging.getLogger(__name__)

MAX_QUERY_TERMS = 16
MIN_RELATIVE_SCORE = 0.3  # a hit must score at least 30% of the best hit's bm25 score
# Words too common to say anything about which article fits; dropped unless nothing else is left.
STOPWORDS = frozenset(
    """a an and are as at be but by can could do does did for from get got has have how i if
    in into is it its me my no not of on or our please so that the their them then there
    this to up us was we what when where which who why will with would you your i'm can't
    want need help hi hello thanks""".split()
)
_WORD = re.compile(r"[^\W_]+")  # letters and digits: what FTS5's unicode61 tokenizer keeps
# A word with its clitic ("can't", "user's", "we're"): read as one word, not two.
_WORD_WITH_CLITIC = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")
_IRREGULAR_NEGATIONS = {"can't": "can", "won't": "will", "shan't": "shall", "ain't": "is"}
_CLITIC = re.compile(r"(?:n't|'s|'re|'ll|'ve|'d|'m|'t)$")
_FRONT_MATTER = re.compile(r"\A---\s*\n(.*?)\n---\s*\n", re.DOTALL)


@dataclass(frozen=True)
class Article:
    slug: str
    title: str
    category: str
    body: str


def _base_word(token: str) -> str:
    """A word without its clitic: "can't" -> "can", "doesn't" -> "does", "user's" -> "user"."""
    token = token.lower().replace("’", "'")
    if token in _IRREGULAR_NEGATIONS:
        return _IRREGULAR_NEGATIONS[token]
    base = _CLITIC.sub("", token)
    return base.replace("'", "") or token.replace("'", "")


def query_terms(text: str) -> list[str]:
    """The distinct search words of `text`, lower-cased, stopwords dropped (unless all are).

    A contraction is one word ("can't" is "can", never "can" and a stray "t"), so the
    apostrophe cannot turn a clitic into a search term."""
    words = list(dict.fromkeys(_base_word(w) for w in _WORD_WITH_CLITIC.findall(text)))
    meaningful = [w for w in words if w not in STOPWORDS]
    return (meaningful or words)[:MAX_QUERY_TERMS]


def fts_query(text: str) -> str:
    """An FTS5 MATCH expression for arbitrary user text: quoted words joined by OR ('' if none).

    Each term only contains letters and digits, so quoting it makes every FTS keyword
    (AND, OR, NOT, NEAR) and character (* ( ) : ^ ") plain text.
    """
    return " OR ".join(f'"{term}"' for term in query_terms(text))


def excerpt(article: Article, query: str, max_chars: int = 900) -> str:
    """The part of the article's body most relevant to `query`, at most about `max_chars`.

    Short bodies come back whole. Otherwise the first paragraph (usually the summary) plus
    the paragraphs sharing most words with the query, in their original order; a paragraph
    too long to fit (a long list: "Common decline codes") keeps its heading and the lines
    that share words with the query.
    """
    body = article.body.strip()
    if len(body) <= max_chars:
        return body
    stems = {_stem(t) for t in query_terms(query)}
    blocks = _blocks(body)
    scores = [_shared(stems, b) for b in blocks]
    ranked = sorted(range(1, len(blocks)), key=lambda i: (-scores[i], i))
    chosen = {0: blocks[0]}
    used = len(blocks[0])
    for i in ranked:
        if scores[i] == 0:
            continue
        block = blocks[i]
        if used + len(block) > max_chars:
            block = _matching_lines(block, stems, max_chars - used)
        if block:
            chosen[i] = block
            used += len(block)
    text = "\n\n".join(chosen[i] for i in sorted(chosen))
    if len(text) > max_chars:
        text = text[: max_chars - 1].rstrip() + "…"
    return text


def _shared(stems: set[str], text: str) -> int:
    """How many of the query's `stems` `text` has."""
    return len(stems & {_stem(w.lower()) for w in _WORD.findall(text)})


def _matching_lines(block: str, stems: set[str], room: int) -> str:
    """The heading of a long paragraph and those of its lines that share words with the query,
    best first while they fit in `room` characters, in their original order; "" if none fit."""
    lines = block.splitlines()
    heading = lines[0] if lines[0].startswith("#") else ""
    rest = lines[1:] if heading else lines
    scores = [_shared(stems, line) for line in rest]
    kept: list[int] = []
    used = len(heading)
    for i in sorted(range(len(rest)), key=lambda i: (-scores[i], i)):
        if scores[i] and used + len(rest[i]) + 1 <= room:
            kept.append(i)
            used += len(rest[i]) + 1
    if not kept:
        return ""
    return "\n".join([*([heading] if heading else []), *(rest[i] for i in sorted(kept))])


def _blocks(body: str) -> list[str]:
    """The body's paragraphs, each heading kept with the paragraph that follows it."""
    blocks: list[str] = []
    pending = ""
    for block in (b.strip() for b in re.split(r"\n\s*\n", body)):
        if not block:
            continue
        if block.startswith("#") and "\n" not in block:
            pending += block + "\n"
            continue
        blocks.append(pending + block)
        pending = ""
    if pending:
        blocks.append(pending.strip())
    return blocks


def _stem(word: str) -> str:
    """A crude stem, good enough to match "refunds"/"refunded" with "refund" in `excerpt`."""
    return word[:6]


def parse_article(text: str, default_slug: str) -> Article:
    """Parse a Markdown article: an optional `---` front matter block of `key: value` lines
    (slug, title, category), then the body. Without a title, a leading `# Heading` is used.
    """
    meta: dict[str, str] = {}
    match = _FRONT_MATTER.match(text)
    if match:
        for line in match.group(1).splitlines():
            key, sep, value = line.partition(":")
            if sep:
                meta[key.strip().lower()] = value.strip()
        text = text[match.end() :]
    body = text.strip()
    title = meta.get("title")
    if not title and body.startswith("# "):
        heading, _, body = body.partition("\n")
        title = heading[2:].strip()
        body = body.strip()
    return Article(
        slug=meta.get("slug") or default_slug,
        title=title or default_slug.replace("-", " ").capitalize(),
        category=meta.get("category") or "general",
        body=body,
    )


class KnowledgeBase:
    """The help-centre articles: load, fetch by slug, search."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def search(self, query: str, limit: int = 3) -> list[Article]:
        """The articles best matching `query` (bm25, title hits weigh more); [] for no words."""
        match = fts_query(query)
        if not match or limit <= 0:
            return []
        if self._db.dialect == "postgresql":
            # The same words ORed, as a tsquery; each is letters and digits only, so none is
            # syntax. Scores negated so that, as with bm25, lower is better.
            sql = (
                "SELECT slug, title, category, body,"
                " -ts_rank(search, to_tsquery('english', ?)) AS score"
                " FROM kb_articles WHERE search @@ to_tsquery('english', ?)"
                " ORDER BY score, id LIMIT ?"
            )
            words = " | ".join(query_terms(query))
            params: tuple[object, ...] = (words, words, limit)
        else:
            sql = (
                "SELECT a.slug, a.title, a.category, a.body, bm25(kb_fts, 4.0, 1.0) AS score"
                " FROM kb_fts JOIN kb_articles a ON a.id = kb_fts.rowid"
                " WHERE kb_fts MATCH ? ORDER BY score LIMIT ?"
            )
            params = (match, limit)
        try:
            rows = await self._db.fetchall(sql, params)
        except Exception as exc:  # should not happen with fts_query; never crash a tool
            if not is_database_error(exc):
                raise
            log.warning("knowledge base search failed", extra={"match": match}, exc_info=True)
            return []
        if not rows:
            return []
        # bm25 scores are negative, lower is better. Drop hits far weaker than the best one:
        # a stray common word should not put an unrelated article in front of the model.
        floor = rows[0]["score"] * MIN_RELATIVE_SCORE
        return [_article(row) for row in rows if row["score"] <= floor]

    async def get(self, slug: str) -> Article | None:
        row = await self._db.fetchone(
            "SELECT slug, title, category, body FROM kb_articles WHERE slug = ?", (slug,)
        )
        return _article(row) if row else None

    async def load_articles(self, articles: Iterable[Article]) -> int:
        """Insert or update (by slug) the articles; the FTS index follows via triggers."""
        now = time.time()
        rows = [(a.slug, a.title, a.category, a.body, now) for a in articles]
        await self._db.executemany(
            "INSERT INTO kb_articles (slug, title, category, body, updated_at)"
            " VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (slug) DO UPDATE SET title = excluded.title,"
            " category = excluded.category, body = excluded.body,"
            " updated_at = excluded.updated_at",
            rows,
        )
        return len(rows)

    async def publish(self, *, title: str, body: str, origin_ticket_id: int, author: str) -> str:
        """An article written from a solved ticket, searchable at once (the FTS triggers);
        publishing again from the same ticket replaces it. Returns its slug."""
        slug = f"ticket-{origin_ticket_id}"
        await self._db.execute(
            "INSERT INTO kb_articles (slug, title, category, body, updated_at, origin_ticket_id,"
            " author) VALUES (?, ?, 'From solved tickets', ?, ?, ?, ?)"
            " ON CONFLICT (slug) DO UPDATE SET title = excluded.title, body = excluded.body,"
            " updated_at = excluded.updated_at, author = excluded.author",
            (slug, scrub(title), scrub(body), time.time(), origin_ticket_id, author),
        )
        return slug

    async def origin(self, slug: str) -> tuple[int | None, str | None]:
        """The ticket an article was written from, and who published it."""
        row = await self._db.fetchone(
            "SELECT origin_ticket_id, author FROM kb_articles WHERE slug = ?", (slug,)
        )
        return (row["origin_ticket_id"], row["author"]) if row else (None, None)

    async def titles(self) -> list[tuple[str, str]]:
        """(title, category) of every article: what the knowledge gaps are checked against."""
        rows = await self._db.fetchall("SELECT title, category FROM kb_articles ORDER BY id")
        return [(row["title"], row["category"]) for row in rows]

    async def count(self) -> int:
        row = await self._db.fetchone("SELECT COUNT(*) AS n FROM kb_articles")
        return int(row["n"]) if row else 0


def _article(row: Row) -> Article:
    return Article(slug=row["slug"], title=row["title"], category=row["category"], body=row["body"])
