"""Tools of the pipeline agents: the desk's ticket history, and the desk's specialists as tools.

Pipelines read; they never act. The specialists a coordinator may consult are copies of the
desk's own specialists without handoffs (a consultation cannot wander off to `fallback` and
escalate) and without the tools that change something (refunds, bug reports, demo bookings).
"""

from __future__ import annotations

from agents import Agent, FunctionTool, Tool

from agents_config.agents import AGENT_SPECS, ModelResolver
from agents_config.context import DeskContext
from agents_config.pipelines.audience import public_query, public_summary, staff_view
from agents_config.tools._common import Ctx, desk_tool
from storage.redaction import deidentify, redact_personal

# Tools with side effects: never given to an agent that only researches.
ACTING_TOOLS = frozenset(
    {"issue_refund", "request_refund_exception", "report_bug", "request_demo", "escalate_to_human"}
)
CONSULTED_SPECIALISTS = ("billing_specialist", "tech_support", "sales")


@desk_tool(needs_account=False)
async def search_ticket_history(ctx: Ctx, query: str) -> str:
    """Search the desk's past support tickets by subject: what people asked about, which
    department handled it, whether it was escalated and how it was rated. Support staff get
    redacted excerpts; anyone else a de-identified summary (counts, departments, topics).

    Args:
        query: Words to look for in ticket subjects (e.g. "refund declined card").
    """
    context = ctx.context
    reports = context.store.reports
    if staff_view(context):
        rows = await reports.search_tickets(query)
        if not rows:
            return f'No past ticket matches "{redact_personal(query.strip()[:100])}".'
        return f"{len(rows)} past tickets match:\n" + "\n".join(row.line() for row in rows)
    words = await public_query(context.store, query)
    rows = await reports.search_tickets(words, include_dms=False) if words else []
    if not rows:
        return f'No past ticket matches "{deidentify(query.strip()[:100])}".'
    return await public_summary(context.store, rows, "past tickets match")


def read_only(tools: list[Tool] | tuple[Tool, ...]) -> list[Tool]:
    return [t for t in tools if not (isinstance(t, FunctionTool) and t.name in ACTING_TOOLS)]


def specialist_tools(resolver: ModelResolver) -> list[Tool]:
    """The desk's specialists as tools (`Agent.as_tool`): read-only copies, no handoffs."""
    tools: list[Tool] = []
    for spec in AGENT_SPECS:
        if spec.name not in CONSULTED_SPECIALISTS:
            continue
        agent = Agent[DeskContext](
            name=spec.name,
            instructions=(
                f"{spec.instructions}\n\nYou are consulted by a research coordinator, not "
                "talking to the user: answer the question you are given factually and briefly, "
                "from your tools only."
            ),
            tools=read_only(spec.tools),
            model=resolver(spec),
        )
        tools.append(
            agent.as_tool(
                tool_name=f"ask_{spec.name}",
                tool_description=(
                    f"Ask the desk's {spec.name.replace('_', ' ')}: {spec.handoff_description} "
                    "One precise question per call; account questions are answered for the user "
                    "who asked for the research."
                ),
            )
        )
    return tools
