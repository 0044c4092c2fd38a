"""The Slack app manifest: one definition, Socket Mode and HTTP mode."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from support_desk.manifest import BOT_EVENTS, BOT_SCOPES, manifest, render

ROOT = Path(__file__).resolve().parents[1]


def test_manifest_yml_is_the_generated_socket_mode_manifest() -> None:
    assert (ROOT / "manifest.yml").read_text(encoding="utf-8") == render()


def test_the_http_manifest_fills_every_request_url_from_one_address() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "support_desk.cli",
            "manifest",
            "--http",
            "--url",
            "https://desk.example/",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    urls = [line.split(": ", 1)[1] for line in result.stdout.splitlines() if "url:" in line]
    assert urls == ['"https://desk.example/slack/events"'] * 5  # events, interactivity, 3 commands
    assert "socket_mode_enabled: false" in result.stdout
    data = manifest(http_url="https://desk.example")
    assert data["settings"]["event_subscriptions"]["request_url"].endswith("/slack/events")


def test_a_wrong_url_is_refused_with_one_line() -> None:
    for argv in (
        ["--http"],
        ["--http", "--url", "http://desk.example"],
        ["--url", "https://x.y"],
        ["--http", "--url", 'https://desk.example/"x: y'],
    ):
        result = subprocess.run(
            [sys.executable, "-m", "support_desk.cli", "manifest", *argv],
            capture_output=True,
            text=True,
        )
        assert result.returncode == 2 and len(result.stderr.splitlines()) == 1, argv


def test_scopes_and_events_are_what_the_desk_uses() -> None:
    assert "mpim:history" in BOT_SCOPES and "message.mpim" in BOT_EVENTS  # group DMs
    assert "assistant:write" in BOT_SCOPES and "assistant_thread_started" in BOT_EVENTS
    assert "im:read" not in BOT_SCOPES  # never used
    assert "reaction_added" in BOT_EVENTS and "reactions:read" in BOT_SCOPES  # :ticket:
    features = manifest()["features"]
    assert features["assistant_view"]["suggested_prompts"]
