"""A local OpenAI-compatible model server (Chat Completions) for tests and benchmarks.

It plays a support conversation the way a real model would through the desk's agents: an
agent that can hand off to a specialist does so (choosing by the routing criteria), and an
agent without handoffs answers. Its latency, failures and hangs are set by the caller, and it
records what it was sent (call count, input size), which is what the benchmarks measure.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import time
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

from aiohttp import web

from agents_config.routing import TRIAGE_ROUTES


@dataclass
class _Fault:
    status: int
    times: int


@dataclass
class ModelCallRecord:
    agent_tools: list[str]
    input_chars: int
    model: str = ""
    at: float = field(default_factory=time.monotonic)


class FakeOpenAI:
    """`async with FakeOpenAI(latency_s=0.3) as model:` then OPENAI_BASE_URL=model.url."""

    def __init__(self, *, latency_s: float = 0.0, host: str = "127.0.0.1") -> None:
        self.latency_s = latency_s
        self.hang = False
        self.token_delay_s = 0.0  # between streamed chunks of text
        self.words_per_token = 1
        self.stall_after_tokens: int | None = None  # a stream that stops sending mid-way
        self.answer_tail = ""  # appended to every answer (a longer answer to stream)
        # Tools an answering agent calls first, one a model call, when it has them (by name,
        # with their JSON arguments): an answer that looks something up before it is written.
        self.tools_before_answer: list[tuple[str, str]] = []
        self.calls: list[ModelCallRecord] = []
        self.in_flight = 0
        self.most_in_flight = 0  # the most calls the server was answering at one time
        self._host = host
        self._faults: list[_Fault] = []
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self._port = 0
        self._called = asyncio.Condition()

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self._port}/v1"

    def fail(self, status: int = 500, times: int = 1) -> None:
        """The next `times` calls answer HTTP `status` (500, 429, 503…)."""
        self._faults.append(_Fault(status, times))

    async def wait_for_calls(self, count: int = 1, timeout_s: float = 10.0) -> None:
        """Wait until the server has received `count` calls."""
        async with self._called:
            await asyncio.wait_for(
                self._called.wait_for(lambda: len(self.calls) >= count), timeout_s
            )

    async def start(self) -> None:
        app = web.Application(client_max_size=32 * 1024**2)
        app.router.add_post("/v1/chat/completions", self._completions)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, 0)
        await site.start()
        self._port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def _completions(self, request: web.Request) -> web.StreamResponse:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            return await self._answer(request)
        finally:
            self.in_flight -= 1

    async def _answer(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        body = json.loads(raw)
        tools = [t["function"]["name"] for t in body.get("tools") or []]
        self.calls.append(
            ModelCallRecord(agent_tools=tools, input_chars=len(raw), model=str(body.get("model")))
        )
        async with self._called:
            self._called.notify_all()
        if self._faults:
            fault = self._faults[0]
            fault.times -= 1
            if fault.times <= 0:
                self._faults.pop(0)
            return web.json_response(
                {"error": {"message": "simulated outage", "type": "server_error"}},
                status=fault.status,
                headers={"retry-after": "0"} if fault.status == 429 else None,
            )
        if self.hang:
            await asyncio.sleep(3600)
        if self.latency_s:
            await asyncio.sleep(self.latency_s)
        reply = self._reply(body, tools)
        if body.get("stream"):
            return await self._stream(request, body, reply)
        return web.json_response(reply)

    async def _stream(
        self, request: web.Request, body: dict[str, Any], reply: dict[str, Any]
    ) -> web.StreamResponse:
        """The reply as Server-Sent Events of `chat.completion.chunk`s, as OpenAI streams it:
        the text a few words a chunk (`token_delay_s` apart), a tool call's name then its
        arguments, the finish reason, the usage when asked, then `[DONE]`."""
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        choice = reply["choices"][0]
        message = choice["message"]
        base = {k: reply[k] for k in ("id", "created", "model")} | {
            "object": "chat.completion.chunk"
        }

        async def send(delta: dict[str, Any], finish: str | None = None) -> None:
            chunk = {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
            await response.write(f"data: {json.dumps(chunk)}\n\n".encode())

        await send({"role": "assistant", "content": ""})
        for index, call in enumerate(message.get("tool_calls") or []):
            function = call["function"]
            first = {"index": index, "id": call["id"], "type": "function"}
            await send({"tool_calls": [{**first, "function": {"name": function["name"]}}]})
            arguments = {"index": index, "function": {"arguments": function["arguments"]}}
            await send({"tool_calls": [arguments]})
        words = re.findall(r"\S+\s*", message.get("content") or "")
        for start in range(0, len(words), self.words_per_token):
            if start and self.token_delay_s:
                await asyncio.sleep(self.token_delay_s)
            if self.stall_after_tokens is not None and start >= self.stall_after_tokens:
                await asyncio.sleep(3600)
            await send({"content": "".join(words[start : start + self.words_per_token])})
        await send({}, choice["finish_reason"])
        if (body.get("stream_options") or {}).get("include_usage"):
            usage = {**base, "choices": [], "usage": reply["usage"]}
            await response.write(f"data: {json.dumps(usage)}\n\n".encode())
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response

    def _reply(self, body: dict[str, Any], tools: list[str]) -> dict[str, Any]:
        messages = body.get("messages") or []
        last_user = next(
            (m for m in reversed(messages) if m.get("role") == "user"), {"content": ""}
        )
        handed_off = bool(messages) and messages[-1].get("role") == "tool"
        transfer = _choose_transfer(str(last_user.get("content")), tools)
        lookup = self._next_lookup(messages, tools)
        message: dict[str, Any]
        if (transfer and not handed_off) or lookup:
            name, arguments = (
                (transfer, "{}") if transfer and not handed_off else lookup or ("", "")
            )
            message = {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": f"call_{next(self._ids)}",
                        "type": "function",
                        "function": {"name": name, "arguments": arguments},
                    }
                ],
            }
            finish = "tool_calls"
        else:
            answer = f"Here is my answer to: {last_user.get('content')}{self.answer_tail}"
            message = {"role": "assistant", "content": answer}
            finish = "stop"
        return {
            "id": f"chatcmpl-{next(self._ids)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", "fake"),
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
        }

    def _next_lookup(
        self, messages: list[dict[str, Any]], tools: list[str]
    ) -> tuple[str, str] | None:
        """The next of `tools_before_answer` this agent has and has not called this turn."""
        if "transfer_to_billing_specialist" in tools:
            return None  # triage routes
        last_user = max((i for i, m in enumerate(messages) if m.get("role") == "user"), default=-1)
        called = {
            call["function"]["name"]
            for m in messages[last_user + 1 :]
            for call in m.get("tool_calls") or []
        }
        return next(
            ((n, a) for n, a in self.tools_before_answer if n in tools and n not in called), None
        )


def _choose_transfer(text: str, tools: list[str]) -> str | None:
    """Triage's pick: the route whose keywords the text mentions most (billing by default)."""
    if not any(name == "transfer_to_billing_specialist" for name in tools):
        return None  # only triage routes; specialists answer
    lowered = text.lower()
    best = max(TRIAGE_ROUTES, key=lambda r: sum(k in lowered for k in r.keywords))
    name = f"transfer_to_{best.agent}"
    return name if name in tools else "transfer_to_billing_specialist"
