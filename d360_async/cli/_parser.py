"""The ``d360`` argument parser: one sub-command per task."""

from __future__ import annotations

import argparse
import sys
from typing import Any, Final, NoReturn

from d360_async._version import __version__
from d360_async.testing._cli import fault_kinds

from ._checks import country_code_arg
from ._common import (
    EXIT_USAGE,
    comma_list,
    non_negative_int,
    port_arg,
    positive_float,
    positive_int,
    rate_arg,
)
from ._demo import run_demo
from ._emulator import run_emulator
from ._events import run_events
from ._output import FORMATS
from ._read import day_arg, run_analytics, run_dataset, run_insights, run_quality, run_templates
from ._report import run_report
from ._send import run_send
from ._worker import run_worker_command

__all__ = ["build_parser"]

DESCRIPTION = """\
360dialog Marketing Messages Lite from the command line: send a campaign from a CSV, see its
delivery report, upload conversion events, read templates, analytics, insights and dataset
quality. `d360 demo` runs
it all on a local emulator, with no key and no network.

The API key comes from --api-key or the D360_API_KEY environment variable (prefer the
variable: command-line flags are visible to other users in `ps`), the API root from
--base-url or D360_BASE_URL.

Exit codes: 0 success; 1 operational failure (an API error, a failed preflight, a message or
event not delivered); 2 usage or input error (a bad flag, no key, an unreadable file, an
invalid row); 130 interrupted (Ctrl-C); 143 terminated (SIGTERM)."""


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line: ``d360: error: ...``."""

    def add_argument(self, *args: Any, **kwargs: Any) -> argparse.Action:
        """As ``ArgumentParser.add_argument``; numeric options show ``N``, not their name."""
        if kwargs.get("type") in _NUMBERS and "metavar" not in kwargs:
            kwargs["metavar"] = "N"
        return super().add_argument(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        """Print ``message`` as one line and exit with code 2."""
        sys.stderr.write(f"d360: error: {message} (see '{self.prog} --help')\n")
        sys.exit(EXIT_USAGE)


def _fraction(text: str) -> float:
    """``--fault-rate``: a number from 0 to 1."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError("must be between 0 and 1")
    return value


def _batch_size(text: str) -> int:
    """``--batch-size``: 1 to 1,000."""
    value = positive_int(text)
    if value > 1000:
        raise argparse.ArgumentTypeError("must be at most 1000 (the API's limit per request)")
    return value


def _concurrency(text: str) -> int | str:
    """``--concurrency``: ``auto`` (in flight follows the rate and the latency) or a number.

    Example:
        >>> _concurrency("auto"), _concurrency("8")
        ('auto', 8)
    """
    return "auto" if text.strip().lower() == "auto" else positive_int(text)


_NUMBERS: Final = frozenset(
    {int, float, positive_int, non_negative_int, positive_float, rate_arg, _fraction, _batch_size}
)


def _parents() -> tuple[Parser, Parser, Parser]:
    """(verbose, connection, format) option groups shared by the sub-commands.

    Their defaults are ``SUPPRESS`` so that an option given before the sub-command is not
    overwritten by the sub-command's default; ``Context.from_args`` fills the gaps.
    """
    verbose = Parser(add_help=False)
    verbose.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=argparse.SUPPRESS,
        help="show details: debug logging, every invalid row of an input file",
    )
    verbose.add_argument(
        "--debug",
        action="store_true",
        default=argparse.SUPPRESS,
        help="like --verbose, and the traceback of an error",
    )
    connection = Parser(add_help=False)
    group = connection.add_argument_group("connection")
    group.add_argument(
        "--api-key", metavar="KEY", default=argparse.SUPPRESS, help="default: $D360_API_KEY"
    )
    group.add_argument(
        "--base-url",
        metavar="URL",
        default=argparse.SUPPRESS,
        help="default: $D360_BASE_URL, else https://waba-v2.360dialog.io",
    )
    group.add_argument(
        "--timeout",
        type=positive_float,
        metavar="SECONDS",
        default=argparse.SUPPRESS,
        help="per request (default: 30)",
    )
    group.add_argument(
        "--retries",
        type=non_negative_int,
        metavar="N",
        default=argparse.SUPPRESS,
        help="retries of a failed request when that is safe (default: 3)",
    )
    output = Parser(add_help=False)
    output.add_argument(
        "--format", choices=FORMATS, default="table", help="output format (default: table)"
    )
    return verbose, connection, output


def build_parser() -> Parser:
    """The ``d360`` parser; each sub-command sets ``handler`` (a coroutine function)."""
    verbose, connection, output = _parents()
    parser = Parser(
        prog="d360",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[verbose, connection],
    )
    parser.add_argument("--version", action="version", version=f"d360-async {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name: str, help_text: str, *parents: Parser) -> Parser:
        sub: Parser = commands.add_parser(
            name, help=help_text, description=help_text, parents=[verbose, *parents]
        )
        return sub

    demo = command("demo", "run the whole SDK on an embedded emulator (no key, no network)")
    demo.add_argument("--recipients", type=positive_int, default=10_000, help="campaign rows")
    demo.add_argument("--events", type=positive_int, default=5_000, help="conversion events")
    demo.add_argument("--concurrency", type=positive_int, default=50, help="sends in flight")
    demo.add_argument("--seed", type=int, default=360, help="seed of the emulator's faults")
    demo.set_defaults(handler=run_demo)

    emu = command("emulator", "serve the local MM Lite emulator until Ctrl-C")
    emu.add_argument("--host", default="127.0.0.1", help="interface (default: %(default)s)")
    emu.add_argument(
        "--port", type=port_arg, default=8360, help="0 picks one (default: %(default)s)"
    )
    emu.add_argument("--api-key", dest="emulator_key", metavar="KEY", help="key it accepts")
    emu.add_argument(
        "--rate", type=rate_arg, default=80.0, help="sends/s per key; 0 or none: no limit"
    )
    emu.add_argument(
        "--fault-rate", type=_fraction, default=0.0, help="share of send/events requests failed"
    )
    emu.add_argument(
        "--fault-kinds",
        type=fault_kinds,
        default=["500", "502", "503", "429"],
        help="comma list drawn by --fault-rate (default: 500,502,503,429)",
    )
    emu.add_argument("--latency-ms", type=float, default=0.0, help="delay of every request")
    emu.add_argument("--seed", type=int, default=None, help="makes faults reproducible")
    emu.set_defaults(handler=run_emulator)

    send = command("send", "send a campaign from a CSV or JSON Lines file", connection)
    send.add_argument("--template", required=True, metavar="NAME", help="template name")
    send.add_argument("--language", required=True, metavar="CODE", help="template language")
    send.add_argument(
        "--csv", "--file", dest="csv", required=True, metavar="FILE", help=".csv or .jsonl"
    )
    send.add_argument(
        "--to-column", metavar="COLUMN", help="recipient column (default: to, phone, ...)"
    )
    send.add_argument(
        "--param-columns",
        nargs="+",
        action="extend",
        metavar="COLUMN",
        help="columns filling the body placeholders {{1}}, {{2}}, ... in order; for named "
        "placeholders ({{first_name}}): NAME=COLUMN, or COLUMN for the parameter of that name",
    )
    send.add_argument("--header-url", metavar="URL", help="media of an IMAGE/VIDEO/DOCUMENT header")
    send.add_argument(
        "--default-country-code",
        type=country_code_arg,
        metavar="CODE",
        help="calling code of numbers written nationally (0151 ...), e.g. 49",
    )
    send.add_argument(
        "--skip-invalid",
        action="store_true",
        help="send the valid rows; write the invalid ones to --rejected",
    )
    send.add_argument(
        "--rejected", metavar="FILE", help="invalid rows (default: FILE.rejected.csv)"
    )
    send.add_argument("--journal", metavar="FILE", help="SQLite journal: a re-run resumes")
    send.add_argument(
        "--concurrency",
        type=_concurrency,
        default="auto",
        metavar="N|auto",
        help="sends in flight (default: auto, from the rate and the latency)",
    )
    send.add_argument(
        "--rate", type=rate_arg, default=80.0, help="messages/s (default: 80; 0: no limit)"
    )
    send.add_argument(
        "--redis-url",
        metavar="URL",
        help="share the rate limit (and its 429 pauses) with every run and service using this "
        "Redis/Valkey and API key (default: $D360_REDIS_URL)",
    )
    send.add_argument(
        "--workers",
        type=positive_int,
        metavar="N",
        help="with --redis-url: keep the campaign in Redis and send it with N local worker "
        "processes (`d360 worker`: more can join from other hosts; any may die)",
    )
    send.add_argument(
        "--campaign",
        metavar="ID",
        help="with --workers: the campaign's name in Redis (default: from the file, template "
        "and language)",
    )
    send.add_argument("--results", metavar="FILE", help="CSV with every row's outcome")
    send.add_argument("--dry-run", action="store_true", help="check everything, send nothing")
    send.add_argument(
        "--resend-unknown",
        action="store_true",
        help="with --journal: send again rows whose outcome an earlier run left unknown",
    )
    send.add_argument(
        "--resend-unknown-after",
        type=positive_float,
        metavar="SECONDS",
        help="with --journal or --workers: send again only the unknown rows no status webhook "
        "settled (see `d360 report`) whose request was written at least SECONDS ago; a message "
        "whose webhooks were lost is then sent twice",
    )
    send.set_defaults(handler=run_send)

    worker = command(
        "worker", "send a campaign kept in Redis, with any number of other workers", connection
    )
    worker.add_argument(
        "--redis-url", metavar="URL", help="where the campaign is (default: $D360_REDIS_URL)"
    )
    worker.add_argument("--campaign", required=True, metavar="ID", help="the campaign's name")
    worker.add_argument(
        "--concurrency",
        type=_concurrency,
        default="auto",
        metavar="N|auto",
        help="sends in flight in this worker (default: auto)",
    )
    worker.add_argument(
        "--rate",
        type=rate_arg,
        default=80.0,
        help="messages/s, shared by every worker through the same Redis (default: 80; 0: no limit)",
    )
    worker.add_argument("--worker", metavar="NAME", help="this worker's name (default: unique)")
    worker.add_argument(
        "--idle-timeout",
        type=positive_float,
        default=60.0,
        metavar="SECONDS",
        help="a silent worker's messages are taken over after this (default: 60)",
    )
    worker.set_defaults(handler=run_worker_command)

    report = command(
        "report", "a campaign's delivery report from its journal (statuses from webhooks)", output
    )
    report.add_argument(
        "--journal",
        required=True,
        action="append",
        metavar="FILE",
        help="the campaign's journal (`send --journal`); repeat for several campaigns",
    )
    report.set_defaults(handler=run_report)

    events = command("events", "upload conversion events from JSON Lines or CSV", connection)
    events.add_argument("--dataset", required=True, metavar="META_NODE_ID", help="dataset id")
    events.add_argument("--file", required=True, metavar="FILE", help=".jsonl or .csv")
    events.add_argument("--test-event-code", metavar="CODE", help="route to the test tab")
    events.add_argument(
        "--rejected", metavar="FILE", help="events not delivered (default: FILE.rejected.csv)"
    )
    events.add_argument("--batch-size", type=_batch_size, default=1000, help="events/request")
    events.add_argument("--concurrency", type=positive_int, default=4, help="requests in flight")
    events.add_argument("--rate", type=rate_arg, default=80.0, help="requests/s (0: no limit)")
    events.add_argument("--no-hash", action="store_true", help="send user_data as it is")
    events.add_argument(
        "--default-country-code",
        type=country_code_arg,
        metavar="CODE",
        help="calling code of phone numbers (ph) written nationally, e.g. 49",
    )
    events.set_defaults(handler=run_events)

    templates = command("templates", "list message templates, or show one", connection)
    actions = templates.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser(
        "list", help="list templates", parents=[verbose, connection, output]
    )
    for flag in ("name", "status", "category", "language"):
        listing.add_argument(f"--{flag}", help=f"only templates with this {flag}")
    listing.add_argument("--limit", type=positive_int, help="at most this many")
    get = actions.add_parser("get", help="one template", parents=[verbose, connection, output])
    get.add_argument("template", metavar="ID_OR_NAME", help="template id, or name")
    get.add_argument("--language", help="with a name: only this language")
    templates.set_defaults(handler=run_templates)

    analytics = command("analytics", "template analytics: sent, delivered, ...", connection, output)
    analytics.add_argument("--template", action="append", metavar="NAME", help="repeatable")
    analytics.add_argument("--template-id", action="append", metavar="ID", help="repeatable")
    analytics.add_argument("--language", help="with --template: only this language")
    analytics.add_argument("--days", type=positive_int, default=7, help="default: 7")
    analytics.add_argument("--start", type=day_arg, metavar="YYYY-MM-DD", help="first day (UTC)")
    analytics.add_argument("--end", type=day_arg, metavar="YYYY-MM-DD", help="last day (UTC)")
    analytics.add_argument("--metrics", type=comma_list, help="e.g. SENT,DELIVERED,CLICKED")
    analytics.add_argument("--daily", action="store_true", help="one row per day")
    analytics.add_argument("--enable", action="store_true", help="enable analytics first")
    analytics.set_defaults(handler=run_analytics)

    insights = command(
        "insights", "ads insights of an account, campaign, ad set or ad", connection, output
    )
    insights.add_argument("object_id", metavar="OBJECT_ID", help="e.g. act_1234")
    insights.add_argument("--date-preset", help="e.g. last_7d, this_month")
    insights.add_argument("--since", type=day_arg, metavar="YYYY-MM-DD", help="with --until")
    insights.add_argument("--until", type=day_arg, metavar="YYYY-MM-DD", help="with --since")
    insights.add_argument("--fields", type=comma_list, help="comma list, e.g. spend,impressions")
    insights.add_argument("--level", help="account, campaign, adset or ad")
    insights.add_argument("--breakdowns", type=comma_list, help="comma list, e.g. age,gender")
    insights.add_argument("--sort", type=comma_list, help="e.g. spend_descending")
    insights.add_argument("--limit", type=positive_int, help="at most this many rows")
    insights.set_defaults(handler=run_insights)

    quality = command("quality", "event match quality of a dataset", connection, output)
    quality.add_argument("dataset_id", metavar="DATASET_ID")
    quality.add_argument("--agent-name", help="only data sent by this partner agent")
    quality.add_argument("--fields", help="Graph fields, e.g. web{event_name}")
    quality.set_defaults(handler=run_quality)

    dataset = command("dataset", "the conversion dataset of a business node", connection)
    dataset_actions = dataset.add_subparsers(dest="action", metavar="ACTION", required=True)
    for action, text in (("get", "show it"), ("create", "create it, or get the existing one")):
        sub = dataset_actions.add_parser(action, help=text, parents=[verbose, connection, output])
        sub.add_argument("node_id", metavar="NODE_ID")
        if action == "create":
            sub.add_argument("--name", help="dataset name")
    dataset.set_defaults(handler=run_dataset)
    return parser
