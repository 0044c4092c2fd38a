"""The desk's agents, declared as data and built into SDK `Agent`s by `build_agents`.

triage ─┬─ billing_specialist ─┬─ refund_processor
        │                      └─ payment_investigator
        ├─ tech_support
        ├─ sales
        └─ fallback (hands the conversation to human staff)

Every specialist can also hand over to `fallback`. Business rules live in the tools, and two
of them are declared here as data and enforced by the desk in code, whatever a model writes:

- `hands_to_staff`: reaching this agent hands the conversation to human staff. The desk records
  the escalation and notifies staff even when the model never calls `escalate_to_human`.
- acting tools that need a person's yes (`issue_refund`; `request_refund_exception`, whose
  `Confirmation` names staff as approver after the requester) are declared where the tool is
  defined, with `desk_tool(confirm=...)` (see `agents_config.approvals`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from agents import Agent, InputGuardrail, Model, OutputGuardrail, Tool
from agents.extensions.handoff_prompt import RECOMMENDED_PROMPT_PREFIX

from agents_config.context import DeskContext
from agents_config.guardrails import INPUT_GUARDRAILS, OUTPUT_GUARDRAILS
from agents_config.routing import BILLING_ROUTES, TRIAGE_ROUTES, routes_prompt
from agents_config.tools import (
    BILLING_TOOLS,
    KNOWLEDGE_TOOLS,
    PAYMENT_TOOLS,
    REFUND_TOOLS,
    SALES_TOOLS,
    TECH_TOOLS,
)
from agents_config.tools.escalation import escalate_to_human

Role = Literal["triage", "specialist", "pipeline"]  # pipeline: agents_config.pipelines

_STYLE = (
    "Write for Slack: short paragraphs, bullet lists when they help, no headings. "
    "Only state facts that come from your tools or the knowledge base; never invent account "
    "data, ids or policies. The tools act for the person who is writing and cannot see other "
    "customers' accounts. If you cannot help, or the user asks for a person, hand off to "
    "`fallback`."
)


@dataclass(frozen=True)
class AgentSpec:
    name: str
    role: Role
    handoff_description: str
    instructions: str
    tools: tuple[Tool, ...] = ()
    handoffs: tuple[str, ...] = ()
    hands_to_staff: bool = False  # reaching it escalates the ticket (recorded by the desk)
    # The desk's agents all carry both (`agents_config.guardrails`): the SDK runs the input
    # guardrail of the agent a run starts at, and the output guardrail of the one that answers.
    input_guardrails: tuple[InputGuardrail[DeskContext], ...] = INPUT_GUARDRAILS
    output_guardrails: tuple[OutputGuardrail[DeskContext], ...] = OUTPUT_GUARDRAILS


AGENT_SPECS: tuple[AgentSpec, ...] = (
    AgentSpec(
        name="triage",
        role="triage",
        handoff_description="Greets the user and routes the request to the right specialist.",
        instructions=(
            "You are the front desk of the company's support desk in Slack. Greet the user in "
            "one short sentence, then route the request by these explicit criteria:\n"
            f"{routes_prompt(TRIAGE_ROUTES)}\n"
            "Hand off as soon as one criterion fits; do not answer specialist questions "
            "yourself. When the need is unclear (a greeting, 'help', 'it does not work' with no "
            "detail), ask exactly ONE short clarifying question and do not hand off. When the "
            "message only thanks you or ends the conversation ('thanks!', 'that solved it', "
            "'eso es todo'), in any language, reply with one short, warm closing sentence in "
            "the user's language: no question, no hand-off (a person is not needed for a "
            "thanks). A thanks that also asks for something ('thanks, but it still fails', "
            "'thanks, can I talk to a person?') is routed by what it asks."
        ),
        handoffs=("billing_specialist", "tech_support", "sales", "fallback"),
    ),
    AgentSpec(
        name="billing_specialist",
        role="specialist",
        handoff_description="Invoices, charges, balances, payments and refunds.",
        instructions=(
            "You are the billing specialist. Answer questions about the user's plan, balance, "
            "invoices and payments with your tools. Delegate by these criteria:\n"
            f"{routes_prompt(BILLING_ROUTES)}\n" + _STYLE
        ),
        tools=(*BILLING_TOOLS, *KNOWLEDGE_TOOLS),
        handoffs=("refund_processor", "payment_investigator", "fallback"),
    ),
    AgentSpec(
        name="refund_processor",
        role="specialist",
        handoff_description="Checks refund eligibility for an order and issues refunds.",
        instructions=(
            "You process refunds. Ask for the order id (like ORD-1001) if the user did not give "
            "one. Check eligibility first; issue the refund only when the tool says it is "
            "eligible and the user wants it. The refund policy is enforced by the tools: report "
            "their answer faithfully, including refusals and the reason. When an order is "
            "refused only because it is older than the refund window and the user explains why "
            "or asks for an exception, propose it with `request_refund_exception` and their "
            "reason: staff decide, so never promise it. " + _STYLE
        ),
        tools=(*REFUND_TOOLS, *KNOWLEDGE_TOOLS),
        handoffs=("fallback",),
    ),
    AgentSpec(
        name="payment_investigator",
        role="specialist",
        handoff_description="Investigates failed, declined, pending or duplicate payments.",
        instructions=(
            "You investigate payments. Find the payment (list the user's payments when no id is "
            "given), investigate it, explain the cause in plain words and the next step. " + _STYLE
        ),
        tools=(*PAYMENT_TOOLS, *KNOWLEDGE_TOOLS),
        handoffs=("fallback",),
    ),
    AgentSpec(
        name="tech_support",
        role="specialist",
        handoff_description="Sign-in, SSO, API, webhooks, errors, outages and bug reports.",
        instructions=(
            "You are technical support. Check the service status when something seems down, "
            "search the knowledge base for troubleshooting steps, and file a bug report when the "
            "user hit a defect (tell them the bug id). " + _STYLE
        ),
        tools=(*TECH_TOOLS, *KNOWLEDGE_TOOLS),
        handoffs=("fallback",),
    ),
    AgentSpec(
        name="sales",
        role="specialist",
        handoff_description="Plans, pricing, upgrades, trials and demo requests.",
        instructions=(
            "You are the sales specialist. Explain plans and prices from the plan catalogue, "
            "compare plans, and book a demo when the user wants one. " + _STYLE
        ),
        tools=(*SALES_TOOLS, *KNOWLEDGE_TOOLS),
        handoffs=("fallback",),
    ),
    AgentSpec(
        name="fallback",
        role="specialist",
        handoff_description="Hands the conversation to human support staff.",
        instructions=(
            "You hand conversations to human staff. Call `escalate_to_human` once, with the "
            "reason and a summary of what the user needs and what was already tried. Then tell "
            "the user in one or two sentences that a person will follow up in this thread, "
            "with the ticket number the tool returned."
        ),
        tools=(escalate_to_human,),
        hands_to_staff=True,
    ),
)

STAFF_HANDOVER_AGENTS = frozenset(spec.name for spec in AGENT_SPECS if spec.hands_to_staff)

ModelResolver = Callable[[AgentSpec], "str | Model"]


def build_agents(model_for: ModelResolver) -> dict[str, Agent[DeskContext]]:
    """Build every agent, wiring handoffs by name. `model_for` picks each agent's model."""
    agents: dict[str, Agent[DeskContext]] = {
        spec.name: Agent[DeskContext](
            name=spec.name,
            instructions=f"{RECOMMENDED_PROMPT_PREFIX}\n\n{spec.instructions}",
            handoff_description=spec.handoff_description,
            tools=list(spec.tools),
            input_guardrails=list(spec.input_guardrails),
            output_guardrails=list(spec.output_guardrails),
            model=model_for(spec),
        )
        for spec in AGENT_SPECS
    }
    for spec in AGENT_SPECS:
        agents[spec.name].handoffs = [agents[name] for name in spec.handoffs]
    return agents
