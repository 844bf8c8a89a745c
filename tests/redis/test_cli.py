"""``d360 send --redis-url`` (and ``D360_REDIS_URL``): CLI runs share one limit through Redis."""

from __future__ import annotations

import asyncio
from pathlib import Path

import redis.asyncio as aioredis

from d360_async.testing import Emulator
from tests.cli.conftest import customers, d360

from .conftest import RedisProcess, busiest

WELCOME = ("--template", "welcome_offer", "--language", "en_US", "--param-columns", "name")


def busiest_second(times: list[float]) -> int:
    return busiest(times, 1.0)


async def redis_keys(url: str) -> list[str]:
    client = aioredis.Redis.from_url(url)
    try:
        return sorted(key.decode() for key in await client.keys("*"))
    finally:
        await client.aclose()


async def test_two_runs_at_once_share_the_limit(redis_server: RedisProcess, tmp_path: Path) -> None:
    """Two campaigns started together, each with --rate 20: together never above 20/s."""
    async with Emulator(rate=None) as emu:
        first = customers(tmp_path / "a.csv", 40)
        second = tmp_path / "b.csv"
        second.write_text(first.read_text().replace("+49 151", "+49 160"))
        options = ("--rate", "20", "--redis-url", redis_server.url)
        runs = await asyncio.gather(
            *(
                d360("send", *WELCOME, "--csv", source, *options, emulator=emu)
                for source in (first, second)
            )
        )
        accepted = [m.timestamp for m in emu.sent_messages]
        keys = await redis_keys(redis_server.url)
    assert [run.code for run in runs] == [0, 0], [run.err for run in runs]
    assert len(accepted) == 80
    assert busiest_second(accepted) <= 25  # one start every 1/20 s (+ jitter); unshared: ~40
    assert keys and all(key.startswith("d360:{") for key in keys)
    assert not any(emu.api_key in key for key in keys)  # only a digest of the key


async def test_the_environment_variable_works_too(
    redis_server: RedisProcess, tmp_path: Path
) -> None:
    async with Emulator(rate=None) as emu:
        run = await d360(
            "send", *WELCOME, "--csv", customers(tmp_path / "a.csv", 5),
            emulator=emu, env={"D360_REDIS_URL": redis_server.url},
        )  # fmt: skip
        keys = await redis_keys(redis_server.url)
    assert run.code == 0, run.err
    assert len(emu.sent_messages) == 5
    assert any(key.endswith(":messages") for key in keys)


async def test_redis_down_sends_nothing(redis_server: RedisProcess, tmp_path: Path) -> None:
    redis_server.stop()
    async with Emulator(rate=None) as emu:
        run = await d360(
            "send", *WELCOME, "--csv", customers(tmp_path / "a.csv", 5),
            "--redis-url", redis_server.url, emulator=emu,
        )  # fmt: skip
    assert run.code == 1
    assert "rate limiter unavailable" in run.error_line
    assert "nothing was sent" in run.error_line
    assert emu.sent_messages == []


async def test_a_shared_limit_needs_a_rate(redis_server: RedisProcess, tmp_path: Path) -> None:
    async with Emulator(rate=None) as emu:
        no_rate = await d360(
            "send", *WELCOME, "--csv", customers(tmp_path / "a.csv", 1),
            "--rate", "0", "--redis-url", redis_server.url, emulator=emu,
        )  # fmt: skip
        bad_url = await d360(
            "send", *WELCOME, "--csv", customers(tmp_path / "a.csv", 1),
            "--redis-url", "http://:pa55word@localhost", emulator=emu,
        )  # fmt: skip
    assert no_rate.code == 2
    assert (
        no_rate.error_line == "d360: error: --redis-url shares a rate limit: give one with --rate"
    )
    assert bad_url.code == 2 and "--redis-url" in bad_url.error_line
    assert "pa55word" not in bad_url.err
    assert emu.sent_messages == []


async def test_send_with_workers_sends_each_row_once(
    redis_server: RedisProcess, tmp_path: Path
) -> None:
    """``send --workers 2``: checked, enqueued once, sent by two worker processes sharing the
    limit; a re-run (or ``d360 worker``) finds the campaign done and sends nothing more."""
    source = customers(tmp_path / "spring.csv", 30)
    options = ("--redis-url", redis_server.url, "--campaign", "spring", "--rate", "200")
    async with Emulator(rate=None) as emu:
        run = await d360("send", *WELCOME, "--csv", source, *options, "--workers", "2",
                         emulator=emu)  # fmt: skip
        again = await d360("send", *WELCOME, "--csv", source, *options, "--workers", "2",
                           emulator=emu)  # fmt: skip
        worker = await d360("worker", *options, emulator=emu)
        accepted = emu.accepted_counts()
    assert run.code == 0, run.err
    assert "campaign 'spring': 30 messages, done: sent=30 failed=0" in run.out
    assert "0 enqueued now (30 were already)" in again.err
    assert again.code == 0 and worker.code == 0, (again.err, worker.err)
    assert "sent=0" in worker.out  # nothing left for it
    assert len(accepted) == 30 and max(accepted.values()) == 1


async def test_workers_need_redis_and_no_journal(tmp_path: Path) -> None:
    source = customers(tmp_path / "a.csv", 1)
    async with Emulator(rate=None) as emu:
        no_redis = await d360("send", *WELCOME, "--csv", source, "--workers", "2", emulator=emu)
        journal = await d360(
            "send", *WELCOME, "--csv", source, "--workers", "2", "--redis-url",
            "redis://127.0.0.1:1/0", "--journal", tmp_path / "j.sqlite", emulator=emu,
        )  # fmt: skip
        worker = await d360("worker", "--campaign", "x", emulator=emu)
    assert no_redis.code == journal.code == worker.code == 2
    assert "give --redis-url" in no_redis.error_line
    assert "--journal does not apply" in journal.error_line
    assert "needs --redis-url" in worker.error_line
    assert emu.sent_messages == []
