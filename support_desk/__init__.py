"""The application shell: configuration, the command line, process management, logging, the demo.

The desk itself is `bot/` (the Slack layer), `agents_config/` (agents, tools, pipelines) and
`storage/` (all SQL); this package reads the settings and puts them together into the
processes `support-desk` runs.
"""
