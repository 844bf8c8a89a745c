"""``send_bulk``'s arguments: refused at once when bad, naming them; a journal from a path."""

from __future__ import annotations

import math
import os
import sys
from collections.abc import AsyncIterable, Iterable, Mapping
from datetime import timedelta

from ._campaign_journal import CampaignJournal
from ._concurrency import check_concurrency
from ._errors import ValidationError
from ._journal import SQLiteJournal

__all__ = ["check_options", "journal_of", "resend_after_seconds", "resend_window"]


def check_options(
    *,
    messages: object,
    concurrency: object,
    campaign_id: object,
    on_progress: object,
    flags: Mapping[str, object],
    preflight_window: object,
    progress_interval: object,
) -> None:
    """Refuse bad arguments of ``send_bulk`` at once, naming them (nothing is sent)."""
    if isinstance(messages, (str, bytes)) or not isinstance(messages, (Iterable, AsyncIterable)):
        raise ValidationError("messages", "must be an iterable or async iterable of messages")
    check_concurrency(concurrency)
    value = preflight_window
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= sys.maxsize:
        raise ValidationError(
            "preflight_window", "must be an integer of at least 1 (at most sys.maxsize)"
        )
    if campaign_id is not None and (not isinstance(campaign_id, str) or not campaign_id.strip()):
        raise ValidationError("campaign_id", "must be a non-empty string")
    if on_progress is not None and not callable(on_progress):
        raise ValidationError("on_progress", "must be a callable taking a BulkReport")
    for name, flag in flags.items():
        if not isinstance(flag, bool):
            raise ValidationError(name, "must be True or False")
    interval = progress_interval
    if isinstance(interval, bool) or not isinstance(interval, (int, float)) or not interval >= 0:
        raise ValidationError("progress_interval", "must be a number of seconds, 0 or more")


def resend_after_seconds(after: object) -> float:
    """``resend_unknown_after`` in seconds.

    Raises:
        ValidationError: It is not a positive, finite number of seconds or a ``timedelta``.

    Example:
        >>> resend_after_seconds(timedelta(minutes=10))
        600.0
    """
    name = "resend_unknown_after"
    if isinstance(after, timedelta):
        after = after.total_seconds()
    if isinstance(after, bool) or not isinstance(after, (int, float)):
        raise ValidationError(name, "must be a number of seconds or a timedelta")
    if not after > 0:
        raise ValidationError(name, "must be more than 0 seconds")
    if math.isinf(after):
        raise ValidationError(name, "must be finite (leave it out never to re-send)")
    return float(after)


def resend_window(
    resend_unknown: bool, after: object, journal: CampaignJournal | None
) -> float | None:
    """Which unknown messages of earlier runs a run sends again: None none, 0 all
    (``resend_unknown``), else those whose request was written at least that many seconds ago
    (``resend_unknown_after``; statuses settled the others).

    Raises:
        ValidationError: ``resend_unknown_after`` is not a positive number of seconds or a
            ``timedelta``, or comes without a journal, or with ``resend_unknown``.
    """
    if after is None:
        return 0.0 if resend_unknown else None
    name = "resend_unknown_after"
    after = resend_after_seconds(after)
    if journal is None:
        raise ValidationError(name, "needs the campaign's journal: pass journal= too")
    if resend_unknown:
        raise ValidationError(name, "and resend_unknown=True exclude each other: give one")
    return float(after)


def journal_of(journal: str | os.PathLike[str] | CampaignJournal | None) -> CampaignJournal | None:
    """The journal ``send_bulk(journal=...)`` names: a path means a ``SQLiteJournal``."""
    if journal is None or isinstance(journal, CampaignJournal):
        return journal
    if isinstance(journal, (str, os.PathLike)):
        return SQLiteJournal(journal)
    raise ValidationError("journal", "must be a file path or a CampaignJournal")
