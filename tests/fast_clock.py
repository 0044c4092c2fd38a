"""`python -m tests.fast_clock COMMAND …`: `support-desk COMMAND …` whose staff desk (escalation
reminders, SLA warnings) reads a clock that runs `FAST_CLOCK_SPEED` times faster than the wall
clock from `FAST_CLOCK_START` (a wall-clock time shared by every process of a test, so they
agree on what is due), and sweeps every `FAST_CLOCK_POLL_S`: hours of reminders in a minute of
test, with no sleeping and no rewound rows. Everything else keeps the wall clock."""

from __future__ import annotations

import os
import time

from bot import staff
from support_desk import cli

SPEED = float(os.environ.get("FAST_CLOCK_SPEED", "60"))
START = float(os.environ.get("FAST_CLOCK_START") or time.time())


def fast_clock() -> float:
    return START + (time.time() - START) * SPEED


def main() -> int:
    defaults = staff.StaffDesk.__init__.__kwdefaults__
    assert defaults is not None and "now" in defaults, "StaffDesk takes its clock as `now`"
    defaults["now"] = fast_clock
    staff.MAX_REMINDER_POLL_S = float(os.environ.get("FAST_CLOCK_POLL_S", "0.25"))
    return cli.main()


if __name__ == "__main__":
    raise SystemExit(main())
