"""HTTP mode: Bolt's endpoint at /slack/events, plus /healthz and /readyz for load balancers.

Every request to /slack/events is checked here before Bolt parses it: the Slack signature and
its timestamp first (an unsigned, forged or stale request gets a 401 and one log line), then
the body's shape (`bot.payloads`; a signed but malformed body gets a 400 and one log line).
Only then does Bolt see it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.request.internals import parse_body
from slack_sdk.signature import SignatureVerifier

from bot import payloads
from bot.app import DeskApp

EVENTS_PATH = "/slack/events"
MAX_BODY_BYTES = 1024**2
# Slack's certificate check of a slash command URL, sent unsigned; answered 200 and ignored.
_SSL_CHECK = re.compile(rb"(?:[^&]*&)*ssl_check=1(?:&[^&]*)*")

log = logging.getLogger(__name__)

Readiness = Callable[[], Awaitable[dict[str, bool]]]
"""What `/readyz` reports: each check by name; ready when all are true."""


def _signature_problem(
    verifier: SignatureVerifier | None, body: bytes, timestamp: str | None, signature: str | None
) -> str | None:
    """Why the request is not provably from Slack in the last five minutes, or None."""
    if verifier is None:
        return "no signing secret configured"
    if not timestamp or not signature:
        return "unsigned"
    # SignatureVerifier calls int() on the timestamp (which also accepts "٣" or " 1 ") and
    # hmac.compare_digest on the signature (which raises on non-ASCII text): check both first.
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
        return "malformed timestamp"
    if not signature.isascii():
        return "malformed signature"
    try:
        text = body.decode("utf-8")  # as SignatureVerifier would, raising on other bytes
    except UnicodeDecodeError:
        return "not UTF-8, so not from Slack"
    if not verifier.is_valid(text, timestamp, signature):
        return "bad signature or stale timestamp"
    return None


def _body_problem(body: bytes, content_type: str | None) -> str | None:
    """Why Bolt could not use this (signed) body, or None. Parsed exactly as Bolt parses it."""
    try:
        parsed = parse_body(body.decode("utf-8"), content_type)
    except (ValueError, RecursionError):  # invalid JSON, or nested beyond the parser's limit
        return "not valid JSON or form data"
    return payloads.problem(parsed)


def http_app(app: DeskApp, readiness: Readiness) -> web.Application:
    secret = app.verification_secret
    verifier = SignatureVerifier(secret) if secret else None

    async def slack_events(request: web.Request) -> web.Response:
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:  # Slack's payloads are far smaller
            log.warning("request refused", extra={"reason": "too large", "bytes": MAX_BODY_BYTES})
            raise
        headers = request.headers
        rejected = _signature_problem(
            verifier,
            body,
            headers.get("X-Slack-Request-Timestamp"),
            headers.get("X-Slack-Signature"),
        )
        if rejected and len(body) < 1000 and _SSL_CHECK.fullmatch(body):
            return web.Response(status=200)
        if rejected:
            log.warning("request refused", extra={"reason": rejected, "bytes": len(body)})
            return web.json_response({"error": "invalid request"}, status=401)
        content_type = headers.get("Content-Type", "").split(";")[0] or None  # as Bolt reads it
        problem = _body_problem(body, content_type)
        if problem is None:
            try:
                bolt_request = await to_bolt_request(request)
            except Exception as exc:  # Bolt's own parsing: a shape payloads.problem missed
                problem = f"Bolt could not read it ({type(exc).__name__})"
        if problem is not None:
            log.warning("malformed request body", extra={"problem": problem, "bytes": len(body)})
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

    web_app = web.Application(client_max_size=MAX_BODY_BYTES)
    web_app.router.add_post(EVENTS_PATH, slack_events)
    web_app.router.add_get("/healthz", healthz)
    web_app.router.add_get("/readyz", readyz)
    return web_app


async def start_http(app: DeskApp, readiness: Readiness, host: str, port: int) -> web.AppRunner:
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
