"""``send_bulk``'s arguments: refused at once when bad, naming them; a journal from a path."""

from __future__ import annotations

import os
from collections.abc import AsyncIterable, Iterable, Mapping

from ._campaign_journal import CampaignJournal
from ._concurrency import check_concurrency
from ._errors import ValidationError
from ._journal import SQLiteJournal

__all__ = ["check_options", "journal_of"]


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
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValidationError("preflight_window", "must be an integer of at least 1")
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


def journal_of(journal: str | os.PathLike[str] | CampaignJournal | None) -> CampaignJournal | None:
    """The journal ``send_bulk(journal=...)`` names: a path means a ``SQLiteJournal``."""
    if journal is None or isinstance(journal, CampaignJournal):
        return journal
    if isinstance(journal, (str, os.PathLike)):
        return SQLiteJournal(journal)
    raise ValidationError("journal", "must be a file path or a CampaignJournal")
