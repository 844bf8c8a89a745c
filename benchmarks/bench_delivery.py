"""The cost of recording status webhooks in a campaign's journal, as the campaign grows.

``DeliveryTracker.handle_statuses`` on a ``SQLiteJournal`` holding a small campaign
(``--small`` rows, 10,000) and a large one (``--rows``, 500,000), in this process, each with
1,000 ``unknown`` rows:

``by id``
    ``--statuses`` statuses of accepted messages, in deliveries of ``--batch``: one round
    each of ``sent``, ``delivered``, ``read`` (every status moves its message on), the two
    journals alternating.
``settle``
    one status for each ``unknown`` row, matched by recipient (it settles the row).

The baseline is the small journal, measured in the same run. Reported: wall and CPU time per
status (this process, the journal's thread included). Target (``--check``): per status, the
large journal costs at most 1.5 x the small one (indexed lookups: the cost of a status does
not grow with the campaign).

Usage::

    python benchmarks/bench_delivery.py [--rows N] [--small N] [--statuses N] [--batch N]
        [--check]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from d360_async import DeliveryTracker, JournalRow, SQLiteJournal
from d360_async.webhooks import StatusUpdate

UNKNOWN = 1_000
THRESHOLD = 1.5


def number(i: int) -> str:
    return f"49151{i:08d}"


async def build(path: Path, rows: int, written: float) -> None:
    """A journal of ``rows`` messages: the first ``UNKNOWN`` unknown, the rest sent."""
    journal = SQLiteJournal(path)
    await journal.open("bench")
    for i in range(rows):
        unknown = i < UNKNOWN
        journal.restore(
            i,
            JournalRow(
                index=i,
                recipient=journal.digest(number(i).encode()),
                fingerprint="f",
                status="unknown" if unknown else "sent",
                message_id=None if unknown else f"wamid.{i}",
                written_at=written,
            ),
        )
        if i % 50_000 == 0:
            await journal.flush()
    await journal.close()


def status(message_id: str, i: int, state: str, at: float) -> StatusUpdate:
    """A status of message ``message_id`` to recipient ``i``."""
    return StatusUpdate(
        id=message_id,
        status=state,
        timestamp=datetime.fromtimestamp(at, UTC),
        recipient_id=number(i),
    )


async def timed(
    tracker: DeliveryTracker, statuses: list[StatusUpdate], batch: int
) -> tuple[float, float]:
    """Wall and CPU seconds per status to record ``statuses`` in deliveries of ``batch``."""
    cpu, wall = time.process_time(), time.perf_counter()
    for start in range(0, len(statuses), batch):
        await tracker.handle_statuses(statuses[start : start + batch])
    return (
        (time.perf_counter() - wall) / len(statuses),
        (time.process_time() - cpu) / len(statuses),
    )


async def measure(args: argparse.Namespace, folder: Path) -> dict[str, dict[str, list[float]]]:
    written = time.time() - 60
    sizes = {"small": args.small, "large": args.rows}
    paths = {name: folder / f"{name}.sqlite" for name in sizes}
    for name, rows in sizes.items():
        await build(paths[name], rows, written)
    rng = random.Random(15)
    figures: dict[str, dict[str, list[float]]] = {name: {} for name in sizes}
    trackers = {name: DeliveryTracker(path) for name, path in paths.items()}
    try:
        for tracker in trackers.values():
            await tracker.open()
        picks = {
            name: rng.sample(range(UNKNOWN, rows), args.statuses) for name, rows in sizes.items()
        }
        for state in ("sent", "delivered", "read"):
            order = list(sizes) if state != "delivered" else list(reversed(sizes))
            for name in order:
                statuses = [status(f"wamid.{i}", i, state, written + 5) for i in picks[name]]
                wall, cpu = await timed(trackers[name], statuses, args.batch)
                figures[name].setdefault("by id wall", []).append(wall)
                figures[name].setdefault("by id cpu", []).append(cpu)
        for name in sizes:
            # ids the journal never saw: found by recipient
            statuses = [status(f"wamid.u{i}", i, "delivered", written + 5) for i in range(UNKNOWN)]
            wall, cpu = await timed(trackers[name], statuses, args.batch)
            counts = trackers[name].counts
            if counts.settled != UNKNOWN:
                raise RuntimeError(f"{name}: settled {counts.settled} of {UNKNOWN}")
            figures[name]["settle wall"] = [wall]
            figures[name]["settle cpu"] = [cpu]
    finally:
        for tracker in trackers.values():
            await tracker.close()
    return figures


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=500_000)
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--statuses", type=int, default=5_000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    if not UNKNOWN + args.statuses <= args.small <= args.rows:
        parser.error("need 1,000 + --statuses <= --small <= --rows")
    with tempfile.TemporaryDirectory() as tmp:
        figures = asyncio.run(measure(args, Path(tmp)))
    print(
        f"statuses recorded by DeliveryTracker (SQLiteJournal), deliveries of {args.batch}; "
        f"journals of {args.small:,} and {args.rows:,} rows"
    )
    print(f"{'us per status (median)':<26}{'small':>10}{'large':>10}{'ratio':>8}")
    ok = True
    for kind in ("by id wall", "by id cpu", "settle wall", "settle cpu"):
        small = statistics.median(figures["small"][kind]) * 1e6
        large = statistics.median(figures["large"][kind]) * 1e6
        ratio = large / small
        ok = ok and (ratio <= THRESHOLD or not kind.endswith("wall"))
        print(f"{kind:<26}{small:>10.1f}{large:>10.1f}{ratio:>8.2f}")
    print(f"target: large/small wall time per status <= {THRESHOLD}: {'met' if ok else 'MISSED'}")
    return 0 if ok or not args.check else 1


if __name__ == "__main__":
    sys.exit(main())
