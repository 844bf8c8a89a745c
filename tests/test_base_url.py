"""``base_url``: a password in it is never shown (F9), and a URL with spaces or control
characters is refused with a clear error instead of reaching the wire (also seen)."""

from __future__ import annotations

import pytest

from d360_async import D360Client, ValidationError
from tests.cli.conftest import d360

KEY = "k3y-SECRET-9f8e7d6c5b4a"


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:1/ x",
        "http://127.0.0.1:1/a b",
        "http://127.0.0.1:1/\tx",
        "http://127.0.0.1:1/x\r\nHost: evil",
        "http://127.0.0.1:1/\x00",
        "http://exa mple.test",
    ],
)
def test_a_base_url_with_spaces_or_control_characters_is_refused(url: str) -> None:
    with pytest.raises(ValidationError) as caught:
        D360Client(KEY, base_url=url)
    assert caught.value.field == "base_url"
    assert "spaces or control characters" in caught.value.reason


async def test_the_client_never_shows_the_password_of_its_base_url() -> None:
    async with D360Client(KEY, base_url="http://user:pa55word@127.0.0.1:1/") as client:
        assert "pa55word" not in repr(client) and "127.0.0.1:1" in repr(client)


@pytest.mark.parametrize("command", [("templates", "list"), ("quality", "1340000000000001")])
async def test_the_cli_never_prints_the_password_of_the_base_url(command: tuple[str, ...]) -> None:
    run = await d360(
        *command,
        env={"D360_BASE_URL": "http://user:pa55word@127.0.0.1:1/", "D360_API_KEY": KEY},
    )

    assert run.code == 1, run.err
    assert "pa55word" not in run.err + run.out
    assert "cannot reach http://127.0.0.1:1" in run.error_line


async def test_the_cli_refuses_a_base_url_with_a_space() -> None:
    run = await d360(
        "templates", "list", env={"D360_BASE_URL": "http://127.0.0.1:1/a b", "D360_API_KEY": KEY}
    )

    assert run.code == 2, run.err
    assert "base_url" in run.error_line and "spaces or control characters" in run.error_line
