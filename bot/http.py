"""HTTP mode: Bolt's endpoint at /slack/events, plus /healthz and /readyz for load balancers."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp

EVENTS_PATH = "/slack/events"

log = logging.getLogger(__name__)

Readiness = Callable[[], Awaitable[dict[str, bool]]]
"""What `/readyz` reports: each check by name; ready when all are true."""


def http_app(app: AsyncApp, readiness: Readiness) -> web.Application:
    async def slack_events(request: web.Request) -> web.Response:
        try:
            bolt_request = await to_bolt_request(request)
        except ValueError:  # a body that is neither JSON nor a form, as Bolt parses it
            log.warning("malformed request body", extra={"bytes": request.content_length})
            return web.json_response({"error": "malformed request body"}, status=400)
        bolt_response = await app.async_dispatch(bolt_request)
        return await to_aiohttp_response(bolt_response)

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(_: web.Request) -> web.Response:
        checks = await readiness()
        ready = all(checks.values())
        body: dict[str, object] = {"status": "ready" if ready else "not ready", **checks}
        return web.json_response(body, status=200 if ready else 503)

    web_app = web.Application(client_max_size=1024**2)
    web_app.router.add_post(EVENTS_PATH, slack_events)
    web_app.router.add_get("/healthz", healthz)
    web_app.router.add_get("/readyz", readyz)
    return web_app


async def start_http(app: AsyncApp, readiness: Readiness, host: str, port: int) -> web.AppRunner:
    """Serve until the returned runner is cleaned up. Port 0 picks a free port."""
    runner = web.AppRunner(http_app(app, readiness), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    return runner


def bound_port(runner: web.AppRunner) -> int:
    for site in runner.sites:
        server = site._server  # aiohttp exposes the bound socket only here
        sockets = getattr(server, "sockets", None)
        if sockets:
            return int(sockets[0].getsockname()[1])
    raise RuntimeError("the HTTP server is not listening")
