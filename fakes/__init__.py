"""The local Slack and the local model, for trying the desk with no workspace and no key.

Nothing here is part of the desk itself: `support-desk demo`, the tests and the benchmarks
import these explicitly.

- `fakes.slack.FakeSlack`: a local Slack Web API (127.0.0.1, a free port) with Slack's
  response shapes and errors; `fakes.slack.SlackEvents` sends signed Events API, slash
  command and interactivity requests to a Bolt app, the way Slack does.
- `fakes.openai_server.FakeOpenAI`: a local OpenAI-compatible Chat Completions server with
  settable latency and faults.
- `fakes.drain.drain`: wait until a running desk has answered everything it accepted.
"""
