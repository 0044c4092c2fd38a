"""Technical support tools: live service status and bug reports."""

from __future__ import annotations

from agents_config.tools._common import Ctx, business, desk_tool, relative_day
from storage.business import (
    MAX_DETAILS_CHARS,
    MAX_TITLE_CHARS,
    ComponentStatus,
    Incident,
    Severity,
)


def _component_line(status: ComponentStatus) -> str:
    note = f": {status.note}" if status.note else ""
    return f"- {status.component}: {status.status}{note}"


def _incident_line(incident: Incident) -> str:
    workaround = f" Workaround: {incident.workaround}" if incident.workaround else ""
    return (
        f"- {incident.id} · {incident.component} · {incident.status} · since "
        f"{relative_day(incident.started_at)}: {incident.title}.{workaround}"
    )


@desk_tool(needs_account=False)
async def get_service_status(ctx: Ctx, component: str | None = None) -> str:
    """Get the live status of the service (operational, degraded or outage) and any open
    incidents with workarounds. Check it first when something seems down, slow or delayed.

    Args:
        component: One part of the service (e.g. "API", "Dashboard", "Webhooks",
            "Mobile sync", "SSO login", "Email notifications"), or null for all of them.
    """
    repo = business(ctx)
    components = await repo.service_status()
    incidents = await repo.open_incidents()
    prefix = ""
    if component and component.strip():
        wanted = component.strip().lower()
        matching = [
            c for c in components if wanted in c.component.lower() or c.component.lower() in wanted
        ]
        if matching:
            components = matching
            names = {c.component for c in matching}
            incidents = [i for i in incidents if i.component in names]
        else:
            prefix = f'There is no component called "{component.strip()}"; all components:\n'
    healthy = all(c.status == "operational" for c in components)
    lines = [prefix + ("All operational." if healthy and not incidents else "Service status:")]
    lines += [_component_line(c) for c in components]
    if incidents:
        lines.append("Open incidents:")
        lines += [_incident_line(i) for i in incidents]
    return "\n".join(lines)


@desk_tool(needs_account=False, limits={"title": MAX_TITLE_CHARS, "details": MAX_DETAILS_CHARS})
async def report_bug(ctx: Ctx, title: str, details: str, severity: Severity = "medium") -> str:
    """File a bug report for engineering when the user hit a defect, and get its id.

    Args:
        title: A one-line summary of the problem.
        details: What happened, steps to reproduce, what was expected, and the user's
            browser/app version or error messages when known.
        severity: critical = service unusable or data at risk; high = a main feature broken
            with no workaround; medium = broken with a workaround; low = cosmetic.
    """
    context = ctx.context
    filed = await business(ctx).create_bug_report(
        slack_user_id=context.caller.slack_user_id,
        customer_id=context.caller.customer_id,
        title=title.strip()[:MAX_TITLE_CHARS] or "Untitled bug report",
        details=details.strip()[:MAX_DETAILS_CHARS] or "(no details given)",
        severity=severity,
        ticket_id=context.ticket_id,
        turn=context.turn,
    )
    bug = filed.record
    if not filed.created:  # the same report again in this turn: the first one stands
        return (
            f"Bug report {bug.id} ({bug.severity}) is already filed for this: {bug.title}. "
            f"No second report was filed; quote {bug.id} in any follow-up."
        )
    return (
        f"Filed bug report {bug.id} ({bug.severity}): {bug.title}. Engineering triages new "
        f"reports; quote {bug.id} in any follow-up."
    )
