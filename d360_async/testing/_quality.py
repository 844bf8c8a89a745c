"""``GET /marketing/dataset_quality``: EMQ and coverage derived from the recorded events.

The events posted to ``/marketing/{dataset_id}/events`` are grouped by ``event_name``; match-key
coverage is the share of those events carrying each ``user_data`` key, and the composite EMQ
score (0-10) is a weighted sum of the coverages. A dataset without events reports seeded
``Purchase`` and ``LeadSubmitted`` entries.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from aiohttp import web

from ._fields import FieldsError, parse_fields, project
from ._records import RecordedEvent
from ._responses import json_response
from ._state import State

#: user_data key -> (match-key identifier, weight in the composite score).
MATCH_KEYS: dict[str, tuple[str, float]] = {
    "em": ("email", 3.0),
    "ph": ("phone", 3.0),
    "ctwa_clid": ("ctwa_clid", 2.0),
    "external_id": ("external_id", 1.0),
    "fn": ("first_name", 0.25),
    "ln": ("last_name", 0.25),
    "client_ip_address": ("ip_address", 0.25),
    "client_user_agent": ("user_agent", 0.25),
}
_SEEDED = ("Purchase", "LeadSubmitted")


def _pct(percentage: float, description: str) -> dict[str, Any]:
    return {"percentage": round(percentage, 2), "description": description}


def _coverages(name: str, events: Sequence[RecordedEvent]) -> dict[str, float]:
    if events:
        total = len(events)
        return {
            key: 100.0 * sum(1 for e in events if (e.data.get("user_data") or {}).get(key)) / total
            for key in MATCH_KEYS
        }
    digest = hashlib.blake2b(name.encode(), digest_size=len(MATCH_KEYS)).digest()
    return {key: float(20 + byte % 81) for key, byte in zip(MATCH_KEYS, digest, strict=True)}


def _entry(name: str, events: Sequence[RecordedEvent]) -> dict[str, Any]:
    coverage = _coverages(name, events)
    score = sum(MATCH_KEYS[key][1] * coverage[key] / 100 for key in MATCH_KEYS)
    score = round(min(10.0, score), 1)
    total = len(events) or 1000
    with_id = 100.0 * sum(1 for e in events if e.event_id) / len(events) if events else 80.0
    feedback = [
        {
            "identifier": MATCH_KEYS[key][0],
            "coverage": _pct(coverage[key], f"{coverage[key]:.0f}% of events include it"),
            "potential_aly_acr_increase": _pct(
                (100 - coverage[key]) * MATCH_KEYS[key][1] / 50,
                "Potential increase in attributed conversions",
            ),
        }
        for key in MATCH_KEYS
    ]
    diagnostics = [
        {
            "name": f"missing_{MATCH_KEYS[key][0]}",
            "description": f"Few events include {MATCH_KEYS[key][0]}",
            "solution": f"Send user_data.{key} (hashed where required)",
            "percentage": round(100 - coverage[key], 2),
            "affected_event_count": round(total * (100 - coverage[key]) / 100),
            "total_event_count": total,
        }
        for key in ("em", "ph", "ctwa_clid")
        if coverage[key] < 50
    ]
    acr = round(score * 2.5, 2)
    return {
        "event_name": name,
        "event_match_quality": {
            "composite_score": score,
            "match_key_feedback": feedback,
            "diagnostics": diagnostics,
        },
        "event_coverage": {
            "percentage": round(with_id, 2),
            "goal_percentage": 75.0,
            "description": "Share of events that can be matched to a browser event",
            "potential_aly_acr_increase": _pct(max(0.0, 75 - with_id) / 10, "If the goal is met"),
        },
        "dedupe_key_feedback": [
            {
                "dedupe_key": "event_id",
                "server_events_with_dedupe_key": _pct(with_id, "Server events with event_id"),
                "browser_events_with_dedupe_key": _pct(0.0, "Browser events with event_id"),
                "overall_browser_coverage_from_dedupe_key": _pct(0.0, "No browser events"),
            }
        ],
        "data_freshness": {
            "upload_frequency": "real_time",
            "description": "Events are received within minutes of occurring",
        },
        "acr": _pct(acr, "Additional conversions reported thanks to the Conversions API"),
        "event_potential_aly_acr_increase": _pct((10 - score) * 1.5, "With better match keys"),
    }


def quality_document(state: State, dataset_id: str, agent: str | None) -> dict[str, Any]:
    """The full (unprojected) response for ``dataset_id``."""
    events = [
        e for e in state.events.get(dataset_id, ()) if agent is None or e.partner_agent == agent
    ]
    by_name: dict[str, list[RecordedEvent]] = {}
    for event in events:
        by_name.setdefault(event.event_name, []).append(event)
    if not by_name:
        return {"web": [_entry(name, ()) for name in _SEEDED]}
    return {"web": [_entry(name, group) for name, group in sorted(by_name.items())]}


async def get_dataset_quality(state: State, request: web.Request, api_key: str) -> web.Response:
    """Dataset quality; ``dataset_id`` required, ``fields`` honoured (Graph expansion)."""
    dataset_id = request.query.get("dataset_id")
    if not dataset_id:
        return state.errors.invalid(
            "dataset_id is required", "(#100) The parameter dataset_id is required"
        )
    document = quality_document(state, dataset_id, request.query.get("agent_name") or None)
    fields = request.query.get("fields")
    if fields:
        try:
            selection = parse_fields(fields)
            document = project(document, selection)
        except FieldsError as exc:
            return state.errors.invalid(str(exc), f"(#100) {exc}")
    return json_response(document)
