"""``d360 worker`` and ``d360 send --workers N``: one campaign kept in Redis, sent by workers.

``d360 worker --redis-url URL --campaign ID`` runs one worker (``run_worker``) until the
campaign is done: start as many as you like, on any hosts; any of them may die. ``d360 send
--redis-url URL --workers N`` checks the file and the template as ``send`` does, enqueues
the campaign once (``enqueue_campaign``: a re-run adds nothing) and runs N ``d360 worker``
processes on this host. ``--redis-url`` keeps its meaning of ``send``: the rate limit is
shared through the same Redis, by every worker.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import os
import sys
from collections.abc import AsyncIterator, Iterable
from typing import Any

from d360_async._limits import RateLimiter
from d360_async._payloads import MessageInput

from ._common import EXIT_FAILURE, EXIT_OK, Context, UsageError

__all__ = ["campaign_name", "redis_url", "run_worker_command", "send_with_workers"]


def redis_url(args: argparse.Namespace) -> str | None:
    """``--redis-url``, else ``$D360_REDIS_URL``."""
    url: str | None = args.redis_url or os.environ.get("D360_REDIS_URL") or None
    return url


def campaign_name(args: argparse.Namespace) -> str:
    """``--campaign``, else one named after the file, template and language.

    Example:
        >>> args = argparse.Namespace(campaign=None, csv="spring.csv", template="welcome",
        ...                           language="en_US")
        >>> campaign_name(args)[:7]
        'spring-'
    """
    if args.campaign:
        return str(args.campaign)
    source = os.path.abspath(args.csv)
    tag = hashlib.blake2b(
        f"{source}\n{args.template}\n{args.language}".encode(), digest_size=6
    ).hexdigest()
    return f"{os.path.splitext(os.path.basename(args.csv))[0]}-{tag}"


async def run_worker_command(args: argparse.Namespace, ctx: Context) -> int:
    """``d360 worker``: send the campaign's messages until it is done; exit 0 when every
    message of it was sent or skipped, 1 otherwise."""
    from ._send import rate_limit, summary_line

    url = redis_url(args)
    if url is None:
        raise UsageError("d360 worker needs --redis-url (or D360_REDIS_URL)")
    from d360_async.redis import campaign_report, run_worker

    shared = rate_limit(ctx, args) if args.rate else contextlib.nullcontext(None)
    async with shared as limit, ctx.client(rate_limit=limit) as client:
        report = await run_worker(
            client,
            url,
            args.campaign,
            concurrency=args.concurrency,
            worker=args.worker,
            idle_timeout=args.idle_timeout,
        )
    ctx.say(f"worker {summary_line(report)}")
    campaign = await campaign_report(url, args.campaign)
    ctx.say(str(campaign))
    return EXIT_OK if campaign.done and not (campaign.failed or campaign.unknown) else EXIT_FAILURE


async def send_with_workers(
    ctx: Context,
    args: argparse.Namespace,
    messages: Iterable[MessageInput],
    limit: float | RateLimiter | None,
) -> int:
    """Enqueue the campaign and run ``args.workers`` local ``d360 worker`` processes."""
    from d360_async.redis import campaign_report, enqueue_campaign

    url = redis_url(args)
    assert url is not None  # checked by the caller
    name = campaign_name(args)
    enqueued = await enqueue_campaign(
        messages, name, redis=url, resend_unknown_after=args.resend_unknown_after
    )
    again = f", {enqueued.queued_again:,} unknown queued again" if enqueued.queued_again else ""
    ctx.note(
        f"campaign {name!r}: {enqueued.messages:,} messages, {enqueued.added:,} enqueued now "
        f"({enqueued.present:,} were already{again}); {args.workers} workers"
    )
    async with _workers(ctx, args, url, name, limit) as processes:
        codes = [await process.wait() for process in processes]
    report = await campaign_report(url, name)
    ctx.say(str(report))
    if any(code not in (EXIT_OK, EXIT_FAILURE) for code in codes):
        ctx.note(f"worker exit codes: {codes}; run `d360 worker --campaign {name}` to go on")
    ok = report.done and not (report.failed or report.unknown)
    return EXIT_OK if ok else EXIT_FAILURE


@contextlib.asynccontextmanager
async def _workers(
    ctx: Context, args: argparse.Namespace, url: str, name: str, limit: object
) -> AsyncIterator[list[asyncio.subprocess.Process]]:
    """``args.workers`` ``d360 worker`` processes (the key passed in their environment, never
    on a command line); stopped if this one is interrupted."""
    env = dict(os.environ, D360_API_KEY=ctx.require_key(), D360_REDIS_URL=url)
    env["D360_BASE_URL"] = ctx.base_url
    command: list[Any] = [sys.executable, "-m", "d360_async.cli", "worker", "--campaign", name]
    command += ["--concurrency", str(args.concurrency), "--rate", str(args.rate or 0)]
    processes = [
        await asyncio.create_subprocess_exec(
            *command, "--worker", f"{name}-{os.getpid()}-{i}", env=env, stdout=sys.stderr
        )
        for i in range(args.workers)
    ]
    try:
        yield processes
    finally:
        for process in processes:
            if process.returncode is None:
                process.terminate()
        for process in processes:
            await process.wait()
