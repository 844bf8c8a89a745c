"""The files the documentation's shell commands name (``customers.csv``, ``purchases.jsonl``),
made fresh for each block: events must be recent to be accepted."""

from __future__ import annotations

import json
import time
from pathlib import Path

CUSTOMERS = """\
to,first_name,discount,end_day
+49 151 10000001,Ada,20%,Sunday
0049 151 10000002,Grace,15%,Monday
+44 7700 900003,Zoë,10%,Friday
"""


def purchases(count: int = 3) -> str:
    """``count`` recent Purchase events, one JSON object per line."""
    now = int(time.time()) - 60
    lines = [
        json.dumps(
            {
                "event_name": "Purchase",
                "event_time": now,
                "event_id": f"order-{i}",
                "user_data": {"em": f"customer.{i}@example.com", "ctwa_clid": "ARAkLkA8rmlF"},
                "custom_data": {"currency": "EUR", "value": 42.5},
            }
        )
        for i in range(count)
    ]
    return "\n".join(lines) + "\n"


def write_files(folder: Path) -> None:
    """Put the files into ``folder``."""
    (folder / "customers.csv").write_text(CUSTOMERS, encoding="utf-8")
    (folder / "purchases.jsonl").write_text(purchases(), encoding="utf-8")
