"""HTTP mode: Bolt's endpoint at /slack/events, plus /healthz and /readyz for load balancers."""

from __future__ import annotations

import logging

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request

from bot.app import DeskRuntime

EVENTS_PATH = "/slack/events"

log = logging.getLogger(__name__)


def http_app(runtime: DeskRuntime) -> web.Application:
    async def slack_events(request: web.Request) -> web.Response:
        try:
            bolt_request = await to_bolt_request(request)
        except ValueError:  # a body that is neither JSON nor a form, as Bolt parses it
            log.warning("malformed request body", extra={"bytes": request.content_length})
            return web.json_response({"error": "malformed request body"}, status=400)
        bolt_response = await runtime.app.async_dispatch(bolt_request)
        return await to_aiohttp_response(bolt_response)

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(_: web.Request) -> web.Response:
        try:
            database = await runtime.store.ping()
        except Exception:
            database = False
        ready = database and runtime.slack_ready
        body = {
            "status": "ready" if ready else "not ready",
            "database": database,
            "slack": runtime.slack_ready,
        }
        return web.json_response(body, status=200 if ready else 503)

    app = web.Application(client_max_size=1024**2)
    app.router.add_post(EVENTS_PATH, slack_events)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    return app


async def start_http(runtime: DeskRuntime, host: str, port: int) -> web.AppRunner:
    """Serve until the returned runner is cleaned up. Port 0 picks a free port."""
    runner = web.AppRunner(http_app(runtime), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    return runner


def bound_port(runner: web.AppRunner) -> int:
    for site in runner.sites:
        server = site._server  # aiohttp exposes the bound socket only here
        if server is not None and server.sockets:  # type: ignore[union-attr]
            return int(server.sockets[0].getsockname()[1])  # type: ignore[union-attr]
    raise RuntimeError("the HTTP server is not listening")
