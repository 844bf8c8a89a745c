"""Named-parameter campaigns through ``send_bulk``, and grouped preflight problems."""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from typing import Any

import pytest

from d360_async import D360Client, MessageBuilder, PreflightError, PreflightProblemKind, SendStatus
from d360_async.testing import Emulator

from .conftest import WELCOME, number, welcome

VIP = MessageBuilder(name="vip_reminder", language="en_US")  # seeded: NAMED


def vip(n: int) -> Iterator[Any]:
    for i in range(n):
        yield VIP.build(
            number(i),
            header={"first_name": f"Fan {i}"},
            body={"first_name": f"Fan {i}", "reward": i * 10, "expiry": "31 December"},
        )


async def test_a_named_parameter_campaign_is_all_sent(emu: Emulator, client: D360Client) -> None:
    report = await client.send_bulk(vip(300), concurrency=20).run()

    assert (report.sent, report.failed, report.skipped, report.unknown) == (300, 0, 0, 0)
    assert emu.accepted_counts() == {number(i): 1 for i in range(300)}
    body = emu.messages_to(number(7))[0].components[1]["parameters"]
    assert body[1] == {"type": "text", "parameter_name": "reward", "text": "70"}


async def test_named_campaign_as_plain_dicts(emu: Emulator, client: D360Client) -> None:
    def dicts() -> Iterator[dict[str, Any]]:
        for i in range(5):
            named = [
                {"type": "text", "parameter_name": name, "text": "v"}
                for name in ("expiry", "reward", "first_name")
            ]
            yield {
                "to": number(i),
                "template": {
                    "name": "vip_reminder",
                    "language": {"code": "en_US"},
                    "components": [
                        {"type": "HEADER", "parameters": [named[2]]},
                        {"type": "body", "parameters": named},
                    ],
                },
            }

    assert (await client.send_bulk(dicts()).run()).sent == 5


async def test_three_hundred_one_equal_problems_are_one_line(
    emu: Emulator, client: D360Client
) -> None:
    messages = [WELCOME.build(number(i), body=["a", "b"]) for i in range(301)]

    with pytest.raises(PreflightError) as info:
        await client.send_bulk(messages).run()

    line = (
        "template 'welcome_offer' (en_US): 301 messages: 2 body parameters for a template "
        "with 1 placeholder (messages 0-300)"
    )
    assert info.value.problems == (line,)
    assert str(info.value) == f"preflight failed: {line}"
    (problem,) = info.value.grouped
    assert problem.kind is PreflightProblemKind.PARAMETERS
    assert (problem.template, problem.language) == ("welcome_offer", "en_US")
    assert problem.messages == tuple(range(301))
    assert problem.reason == "2 body parameters for a template with 1 placeholder"
    assert emu.sent_messages == []
    copy = pickle.loads(pickle.dumps(info.value))
    assert (copy.grouped, str(copy)) == (info.value.grouped, str(info.value))


async def test_different_problems_stay_apart_with_their_messages(
    emu: Emulator, client: D360Client
) -> None:
    named_wrong = VIP.build(number(90), header={"first_name": "A"}, body={"first_name": "A"})
    messages = [
        *(WELCOME.build(number(i), body=[]) for i in range(5)),
        *welcome(2, start=5),
        WELCOME.build(number(7), body=[]),
        named_wrong,
        {"to": number(91), "template": {"name": "nope", "language": {"code": "en"}}},
        {"to": number(92), "template": {"name": "nope", "language": {"code": "en"}}},
    ]

    with pytest.raises(PreflightError) as info:
        await client.send_bulk(messages).run()

    assert info.value.problems == (
        "template 'welcome_offer' (en_US): 6 messages: 0 body parameters for a template with "
        "1 placeholder (messages 0-4, 7)",
        "template 'vip_reminder' (en_US): 1 message: body parameters lack reward, expiry "
        "(the template's body has first_name, reward, expiry) (message 8)",
        "template 'nope' (en) not found",
    )
    kinds = [(p.kind, p.messages) for p in info.value.grouped]
    assert kinds == [
        (PreflightProblemKind.PARAMETERS, (0, 1, 2, 3, 4, 7)),
        (PreflightProblemKind.PARAMETERS, (8,)),
        (PreflightProblemKind.TEMPLATE_NOT_FOUND, (9, 10)),
    ]
    assert emu.sent_messages == []


async def test_a_long_list_of_messages_is_shortened(emu: Emulator, client: D360Client) -> None:
    messages = [WELCOME.build(number(i), body=["a", "b"] if i % 2 else ["a"]) for i in range(100)]
    with pytest.raises(PreflightError) as info:
        await client.send_bulk(messages).run()
    (line,) = info.value.problems
    assert line.startswith(
        "template 'welcome_offer' (en_US): 50 messages: 2 body parameters for a template with "
        "1 placeholder (messages 1, 3, 5, 7, 9, 11, 13, 15, 17, 19, and 40 more)"
    )
    assert info.value.grouped[0].messages == tuple(range(1, 100, 2))


async def test_a_named_misfit_after_the_window_fails_that_message(
    emu: Emulator, client: D360Client
) -> None:
    late = VIP.build(number(60), header={"first_name": "A"}, body=["A", "1", "x"])
    results = [r async for r in client.send_bulk([*welcome(20), late], preflight_window=10)]
    failed = [(r.index, r.reason) for r in results if r.status is SendStatus.FAILED]
    assert failed == [
        (
            20,
            "template 'vip_reminder' (en_US): body parameters have no parameter_name; the "
            "template's are named (first_name, reward, expiry)",
        )
    ]
    assert len(emu.sent_messages) == 20
