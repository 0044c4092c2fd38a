"""Knowledge-base search: the help-centre articles, for policy and how-to questions."""

from __future__ import annotations

from agents_config.tools._common import Ctx, desk_tool
from storage.kb import excerpt

# Excerpt sizes by rank: the best match gets room for its key facts, runners-up less.
EXCERPT_CHARS = (1400, 600, 600)
MAX_ARTICLES = len(EXCERPT_CHARS)


@desk_tool(needs_account=False)
async def search_knowledge_base(ctx: Ctx, query: str) -> str:
    """Search the help-centre articles (policies, how-tos, troubleshooting) and return the
    best matches with their relevant text. Quote them; don't invent policies they don't state.

    Args:
        query: What the user wants to know, in plain words (e.g. "refund window").
    """
    articles = await ctx.context.store.kb.search(query, limit=MAX_ARTICLES)
    if not articles:
        return (
            f'No knowledge-base article matches "{query.strip()[:100]}". Say so rather than '
            "guessing, and offer to hand the question to a person."
        )
    return "\n\n---\n\n".join(
        f"[{a.slug}] {a.title}\n{excerpt(a, query, size)}"
        for a, size in zip(articles, EXCERPT_CHARS, strict=False)
    )
