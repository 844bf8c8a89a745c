"""Conversion events end to end: normalise + hash + serialise + post, against the emulator.

Three senders post the same events (same raw customer data, same batches of 1,000, same
concurrency) to one emulator running in its own process (``python -m d360_async.testing``):

- ``d360-async``: ``client.send_conversion_events(...).run()`` with ``rate_limit=None``;
- ``hand-written``: hashlib + ``json`` + raw aiohttp, the least work that does the same job
  (strip/lowercase/digits normalisation, SHA-256 of 11 keys, one compact JSON body per batch,
  one shared session, ``concurrency`` requests in flight);
- ``facebook-business``: Meta's SDK, ``EventRequestAsync`` + ``BatchProcessor``. Only its
  ``create_event`` is replaced, by a copy that posts to the emulator: a JSON body with the
  D360-API-KEY header instead of a form-encoded body with an access token to
  graph.facebook.com (form-encoding 1 MB would cost it more). The rest is its own: building
  its ``Event`` and ``UserData`` objects, its normalisation and hashing, its ``json.dumps``,
  the SSL context it builds for every request (``--facebook-without-ssl-context`` skips it),
  a new aiohttp session per request, and ``BatchProcessor``'s loop, which awaits one request
  after the other.

Each round resets the emulator, runs every sender once (the order alternates between rounds)
and checks that the emulator recorded every event exactly once. The events of the three
senders hash to the same digests (checked on a sample before timing; Meta's SDK does not hash
``external_id``, which only lightens its work).

Usage::

    pip install facebook-business        # or: pip install -e '.[bench]'
    python benchmarks/bench_events.py [--events 20000] [--rounds 5] [--concurrency 4] [--check]
                                      [--facebook-without-ssl-context] [--pin]

``--check`` exits with status 1 when d360-async is below 0.8 x the hand-written baseline or
below 4 x facebook-business (best round of each), or when an event went missing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import os
import random
import re
import ssl
import statistics
import sys
import time
import unicodedata
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import API_KEY, ROOT, cpu_seconds, emulator, pin_client, reset_emulator

sys.path.insert(0, str(ROOT))  # run from a checkout without installing
from d360_async import D360Client, RetryPolicy
from d360_async.hashing import hash_user_data

NODE = "1122334455667788"
BATCH = 1000
MIN_BASELINE_RATIO = 0.8
MIN_FACEBOOK_RATIO = 4.0

_CITIES = ["Menlo Park", "San Francisco", "New York", "Austin", "Seattle", "Boston", "Denver"]
_STATES = ["CA", "NY", "TX", "WA", "MA", "CO", "IL", "FL", "GA", "OR"]
_FIRST = ["Mary", "John", "Valéry", "Anna", "Luis", "Wei", "Fatima", "Olga", "Kwame", "Sara"]
_LAST = ["Smith", "Garcia", "Müller", "Nguyen", "Okafor", "Rossi", "Kim", "Silva", "Novak"]


# -- the data ------------------------------------------------------------------------------


def _ascii(name: str) -> str:
    """An e-mail address takes ASCII letters (Meta's pattern): ``Müller`` → ``Muller``."""
    return unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()


def records(count: int, seed: int = 7) -> list[dict[str, Any]]:
    """Raw customer data as a shop stores it (mixed case, formatted phone numbers)."""
    rng = random.Random(seed)
    out = []
    for i in range(count):
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        year, month, day = rng.randint(1950, 2005), rng.randint(1, 12), rng.randint(1, 28)
        out.append(
            {
                "em": f" {_ascii(first)}.{_ascii(last)}{i}@Example.com",
                "ph": f"+1 (650) {rng.randint(200, 999)}-{rng.randint(0, 9999):04d}",
                "fn": first,
                "ln": last,
                "ge": rng.choice("fm"),
                "db": f"{year:04d}{month:02d}{day:02d}",
                "ct": rng.choice(_CITIES),
                "st": rng.choice(_STATES),
                "zp": f"{rng.randint(10000, 99999)}",
                "country": "US",
                "external_id": f"customer-{i}",
                "ctwa_clid": f"ARAkLkA8rmlF{i:08d}",
                "value": round(rng.uniform(5, 500), 2),
            }
        )
    return out


def sdk_event(record: dict[str, Any], event_time: int, event_id: str) -> dict[str, Any]:
    """The event as given to d360-async: raw PII, the SDK normalises and hashes it."""
    user_data = {k: record[k] for k in _USER_KEYS}
    return {
        "event_name": "Purchase",
        "event_time": event_time,
        "event_id": event_id,
        "user_data": user_data,
        "custom_data": {"currency": "USD", "value": record["value"]},
    }


_USER_KEYS = ("em", "ph", "fn", "ln", "ge", "db", "ct", "st", "zp", "country", "external_id")
_USER_KEYS += ("ctwa_clid",)
_NOT_DIGITS = re.compile(r"[^0-9]")


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def baseline_user_data(r: dict[str, Any]) -> dict[str, Any]:
    """The hand-written normalisation and hashing."""
    return {
        "em": [_sha(r["em"].strip().lower())],
        "ph": [_sha(_NOT_DIGITS.sub("", r["ph"]))],
        "fn": [_sha(r["fn"].strip().lower())],
        "ln": [_sha(r["ln"].strip().lower())],
        "ge": [_sha(r["ge"].strip().lower())],
        "db": [_sha(_NOT_DIGITS.sub("", r["db"]))],
        "ct": [_sha(r["ct"].strip().lower().replace(" ", ""))],
        "st": [_sha(r["st"].strip().lower())],
        "zp": [_sha(r["zp"].strip().lower())],
        "country": [_sha(r["country"].strip().lower())],
        "external_id": [_sha(r["external_id"].strip())],
        "ctwa_clid": r["ctwa_clid"],
    }


# -- the three senders -----------------------------------------------------------------------


async def send_sdk(
    url: str, data: list[dict[str, Any]], ids: list[str], now: int, conc: int
) -> int:
    events = (sdk_event(r, now, i) for r, i in zip(data, ids, strict=True))
    async with D360Client(API_KEY, base_url=url, rate_limit=None, retry=RetryPolicy()) as client:
        run = client.send_conversion_events(NODE, events, batch_size=BATCH, concurrency=conc)
        report = await run.run()
    return report.received


async def send_baseline(
    url: str, data: list[dict[str, Any]], ids: list[str], now: int, conc: int
) -> int:
    dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
    headers = {"D360-API-KEY": API_KEY, "Content-Type": "application/json"}
    endpoint = f"{url}/marketing/{NODE}/events"
    chunks = iter(range(0, len(data), BATCH))
    received = 0

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal received
        for start in chunks:
            batch = [
                {
                    "event_name": "Purchase",
                    "event_time": now,
                    "event_id": ids[j],
                    "action_source": "business_messaging",
                    "messaging_channel": "whatsapp",
                    "user_data": baseline_user_data(data[j]),
                    "custom_data": {"currency": "USD", "value": data[j]["value"]},
                }
                for j in range(start, min(start + BATCH, len(data)))
            ]
            body = dumps({"data": batch}).encode()
            async with session.post(endpoint, data=body, headers=headers) as response:
                answer = await response.json()
                response.raise_for_status()
                received += answer["events_received"]

    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(worker(session) for _ in range(conc)))
    return received


def facebook_sender(with_ssl_context: bool) -> Callable[..., Awaitable[int]] | None:
    """The facebook-business sender, or None when the package is not installed."""
    try:
        from facebook_business.adobjects.serverside import event_request_async
        from facebook_business.adobjects.serverside.action_source import ActionSource
        from facebook_business.adobjects.serverside.batch_processor import BatchProcessor
        from facebook_business.adobjects.serverside.custom_data import CustomData
        from facebook_business.adobjects.serverside.event import Event
        from facebook_business.adobjects.serverside.event_request_async import EventRequestAsync
        from facebook_business.adobjects.serverside.gender import Gender
        from facebook_business.adobjects.serverside.messaging_channel import MessagingChannel
        from facebook_business.adobjects.serverside.user_data import UserData
        from facebook_business.api import FacebookAdsApi
    except ImportError:
        return None

    FacebookAdsApi.init(access_token="bench-token")  # never used: nothing goes to Meta
    here = os.path.dirname(event_request_async.__file__)
    cafile = os.path.join(here, "..", "..", "fb_ca_chain_bundle.crt")
    genders = {"f": Gender.FEMALE, "m": Gender.MALE}

    class EmulatorEventRequest(EventRequestAsync):  # type: ignore[misc]
        """Meta's request, posting to the emulator: the only change is the transport."""

        endpoint = ""

        async def create_event(self, session: aiohttp.ClientSession) -> Any:
            # Meta's create_event, line for line, but the URL, the body and the headers.
            params = self.get_params()  # Meta's normalisation, hashing and json.dumps
            if with_ssl_context:  # built for every request, whatever the URL
                ssl.create_default_context(cafile=cafile)
            body = '{"data":' + params["data"] + "}"  # not form-encoded: spares it work
            headers = {"D360-API-KEY": API_KEY, "Content-Type": "application/json"}
            async with session.post(self.endpoint, data=body.encode(), headers=headers) as r:
                return await r.json()

        def clone_without_events(self) -> EmulatorEventRequest:
            return EmulatorEventRequest(pixel_id=self.pixel_id, events=[])

    def make_event(r: dict[str, Any], now: int, event_id: str) -> Any:
        user_data = UserData(
            emails=[r["em"]],
            phones=[r["ph"]],
            first_names=[r["fn"]],
            last_names=[r["ln"]],
            genders=[genders[r["ge"]]],
            dates_of_birth=[r["db"]],
            cities=[r["ct"]],
            states=[r["st"]],
            zip_codes=[r["zp"]],
            country_codes=[r["country"]],
            external_ids=[r["external_id"]],
            ctwa_clid=r["ctwa_clid"],
        )
        return Event(
            event_name="Purchase",
            event_time=now,
            event_id=event_id,
            user_data=user_data,
            custom_data=CustomData(currency="USD", value=r["value"]),
            action_source=ActionSource.BUSINESS_MESSAGING,
            messaging_channel=MessagingChannel.WHATSAPP,
        )

    async def send_facebook(
        url: str, data: list[dict[str, Any]], ids: list[str], now: int, conc: int
    ) -> int:
        EmulatorEventRequest.endpoint = f"{url}/marketing/{NODE}/events"
        events = [make_event(r, now, i) for r, i in zip(data, ids, strict=True)]
        processor = BatchProcessor(batch_size=BATCH, concurrent_requests=conc)
        template = EmulatorEventRequest(pixel_id=NODE, events=[])
        received = 0
        async for responses in processor.process_events_generator(template, events):
            received += sum(response.events_received for response in responses)
        return received

    send_facebook.user_data = lambda r: make_event(r, 0, "x").user_data.normalize()  # type: ignore[attr-defined]
    return send_facebook


# -- the driver ------------------------------------------------------------------------------


@contextlib.contextmanager
def emulator_process(pin: bool) -> Iterator[tuple[str, int]]:
    """The emulator in its own process: (its URL, its pid). Not pinned to a CPU by default:
    on the 2-CPU VM of the figures in README.md, pinning client and emulator to separate
    CPUs (``--pin``, as ``_common`` does) cut every sender's rate by a third or more, as if
    the two processes took turns; unpinned, they overlap."""
    if pin:
        pin_client()
    with emulator(pin=pin) as found:
        yield found


async def recorded(session: aiohttp.ClientSession, url: str) -> tuple[int, int]:
    """(events recorded for NODE, duplicates dropped) according to the emulator."""
    async with session.get(f"{url}/_emulator/state") as response:
        state = await response.json()
    return int(state["events"].get(NODE, 0)), int(state["duplicate_events"])


def cross_check(data: list[dict[str, Any]], facebook: Any) -> None:
    """The three senders hash the same records to the same digests."""
    for record in data[:200]:
        ours = hash_user_data({k: record[k] for k in _USER_KEYS})
        assert ours == baseline_user_data(record), "d360-async and the baseline disagree"
        if facebook is not None:
            theirs = facebook.user_data(record)
            for key, value in ours.items():
                if key != "external_id":  # Meta's SDK sends external_id unhashed
                    assert theirs[key] == value, f"facebook-business hashes {key} differently"


async def bench(args: argparse.Namespace) -> int:
    facebook = facebook_sender(not args.facebook_without_ssl_context)
    senders: dict[str, Callable[..., Awaitable[int]]] = {
        "d360-async": send_sdk,
        "hand-written": send_baseline,
    }
    if facebook is not None:
        senders["facebook-business"] = facebook
    else:
        print("facebook-business is not installed: pip install facebook-business")
    data = records(args.events)
    cross_check(data, facebook)
    rates: dict[str, list[float]] = {name: [] for name in senders}
    server_cpu: dict[str, list[float]] = {name: [] for name in senders}
    client_cpu: dict[str, list[float]] = {name: [] for name in senders}
    missing = 0
    with emulator_process(args.pin) as (url, pid):
        async with aiohttp.ClientSession() as control:
            for send in senders.values():  # warm-up: imports, caches, connections
                await reset_emulator(control, url)
                ids = [str(uuid.uuid4()) for _ in range(args.warmup)]
                await send(url, data[: args.warmup], ids, int(time.time()), args.concurrency)
            for round_ in range(args.rounds):
                order = list(senders.items())
                for name, send in order if round_ % 2 == 0 else order[::-1]:
                    await reset_emulator(control, url)
                    ids = [str(uuid.uuid4()) for _ in data]
                    before = cpu_seconds(pid)
                    start, cpu_start = time.perf_counter(), time.process_time()
                    received = await send(url, data, ids, int(time.time()), args.concurrency)
                    elapsed = time.perf_counter() - start
                    client_cpu[name].append(1e6 * (time.process_time() - cpu_start) / len(data))
                    after = cpu_seconds(pid)
                    stored, duplicates = await recorded(control, url)
                    if received != len(data) or stored != len(data) or duplicates:
                        print(f"{name}: {len(data)} sent, {received} acknowledged, {stored} kept")
                        missing += 1
                    rates[name].append(len(data) / elapsed)
                    if before is not None and after is not None:
                        server_cpu[name].append(1e6 * (after - before) / len(data))
    return report(args, rates, client_cpu, server_cpu, missing)


def report(
    args: argparse.Namespace,
    rates: dict[str, list[float]],
    client_cpu: dict[str, list[float]],
    server_cpu: dict[str, list[float]],
    missing: int,
) -> int:
    """Print the table; the exit status."""
    try:
        from importlib.metadata import version

        fb_version = version("facebook-business")
    except Exception:
        fb_version = "not installed"
    print(
        f"\n{args.events:,} events x {args.rounds} rounds per sender, batches of {BATCH}, "
        f"concurrency {args.concurrency}, emulator in its own process on loopback\n"
        f"Python {sys.version.split()[0]}, aiohttp {aiohttp.__version__}, "
        f"facebook-business {fb_version}, {os.cpu_count()} CPUs\n"
    )
    best = {name: max(values) for name, values in rates.items()}
    ours = best["d360-async"]
    header = f"{'sender':<18} {'best ev/s':>10} {'median ev/s':>12} {'client CPU us/ev':>17}"
    print(header + f" {'emulator CPU us/ev':>19} {'d360-async is':>14}")
    print(f"{'-' * 18} {'-' * 10} {'-' * 12} {'-' * 17} {'-' * 19} {'-' * 14}")
    for name, values in rates.items():
        mine = f"{statistics.median(client_cpu[name]):.1f}"
        cpu = f"{statistics.median(server_cpu[name]):.1f}" if server_cpu[name] else "n/a"
        ratio = "" if name == "d360-async" else f"{ours / best[name]:.2f} x"
        print(
            f"{name:<18} {best[name]:>10,.0f} {statistics.median(values):>12,.0f} {mine:>17}"
            f" {cpu:>19} {ratio:>14}"
        )
    failed = []
    baseline_ratio = ours / best["hand-written"]
    print(f"\nd360-async / hand-written: {baseline_ratio:.2f} (threshold {MIN_BASELINE_RATIO})")
    if baseline_ratio < MIN_BASELINE_RATIO:
        failed.append("hand-written baseline")
    if "facebook-business" in best:
        fb_ratio = ours / best["facebook-business"]
        print(f"d360-async / facebook-business: {fb_ratio:.2f} (threshold {MIN_FACEBOOK_RATIO})")
        if fb_ratio < MIN_FACEBOOK_RATIO:
            failed.append("facebook-business")
    else:
        failed.append("facebook-business (not installed)")
    if missing:
        print(f"runs with missing or duplicated events: {missing}")
        failed.append("delivery")
    if args.check and failed:
        print(f"CHECK FAILED: {', '.join(failed)}")
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=20_000, help="events per sender and round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=4, help="requests in flight")
    parser.add_argument("--warmup", type=int, default=2_000)
    parser.add_argument("--check", action="store_true", help="exit 1 when a threshold is missed")
    parser.add_argument(
        "--pin", action="store_true", help="client and emulator on separate CPUs (_common)"
    )
    parser.add_argument(
        "--facebook-without-ssl-context",
        action="store_true",
        help="skip the SSL context facebook-business builds for every request",
    )
    args = parser.parse_args(argv)
    return asyncio.run(bench(args))


if __name__ == "__main__":
    raise SystemExit(main())
