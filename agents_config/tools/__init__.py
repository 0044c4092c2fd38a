"""The specialists' tools, grouped by the agent that uses them (see `agents_config.agents`).

Every tool acts only for the caller's own customer account (from the run context) and records
its name in `DeskContext.tools_called`.
"""

from __future__ import annotations

from agents import Tool

from agents_config.tools.billing import (
    get_account_overview,
    get_invoice,
    list_invoices,
    list_payments,
)
from agents_config.tools.knowledge import search_knowledge_base
from agents_config.tools.payments import check_duplicate_charges, investigate_payment
from agents_config.tools.refunds import (
    check_refund_eligibility,
    issue_refund,
    list_orders,
    request_refund_exception,
)
from agents_config.tools.sales import compare_plans, list_plans, request_demo
from agents_config.tools.tech import get_service_status, report_bug

BILLING_TOOLS: list[Tool] = [
    get_account_overview,
    list_invoices,
    get_invoice,
    list_payments,
    check_duplicate_charges,
]
REFUND_TOOLS: list[Tool] = [
    list_orders,
    check_refund_eligibility,
    issue_refund,
    request_refund_exception,
]
PAYMENT_TOOLS: list[Tool] = [list_payments, check_duplicate_charges, investigate_payment]
TECH_TOOLS: list[Tool] = [get_service_status, report_bug]
SALES_TOOLS: list[Tool] = [list_plans, compare_plans, request_demo]
KNOWLEDGE_TOOLS: list[Tool] = [search_knowledge_base]

__all__ = [
    "BILLING_TOOLS",
    "KNOWLEDGE_TOOLS",
    "PAYMENT_TOOLS",
    "REFUND_TOOLS",
    "SALES_TOOLS",
    "TECH_TOOLS",
]
