"""The one rule that says whether a failed request may have been acted upon by the service.

Single sends, retries, the bulk sender and its journal all ask :func:`may_have_been_acted_upon`;
no other module re-derives the rule. "Acted upon" is what matters for a marketing message: if
the service may have accepted it, sending it again may deliver it twice.
"""

from __future__ import annotations

from typing import Final

from ._errors import (
    APIConnectionError,
    APIError,
    APIResponseError,
    APIStatusError,
    D360Error,
    LimiterUnavailableError,
)

__all__ = [
    "META_SERVICE_UNAVAILABLE",
    "NOT_PROCESSED_5XX",
    "may_have_been_acted_upon",
    "status_may_have_been_acted_upon",
]

#: Statuses that say "this request was not processed here", whatever sits in front of the API:
#: redirects that ask for the same request elsewhere (301, 307, 308; 300, 304, 305 make no
#: sense for an API call), 501 Not Implemented (the server does not support the method), 505
#: (HTTP version refused) and 511 (a captive portal that intercepted the request).
NOT_PROCESSED_5XX: Final = frozenset({501, 505, 511})
_NOT_PROCESSED_3XX: Final = frozenset({300, 301, 304, 305, 307, 308})
#: Meta's error code 2, "API Service: temporary due to downtime or due to being overloaded",
#: which Meta documents with HTTP 503: Meta's API itself refused the call, nothing was handled.
META_SERVICE_UNAVAILABLE: Final = 2


def status_may_have_been_acted_upon(status: int, code: int | None = None) -> bool:
    """Whether a request answered with ``status`` (and Meta error ``code``) may have been
    acted upon.

    - 2xx: yes (it was accepted).
    - 302 and 303: yes (both are used to redirect *after* processing a POST); other 3xx: no.
    - 4xx (429 and throttling codes included): no, the request was refused.
    - 5xx: yes, except 501, 505 and 511. 360dialog documents only "500 Internal server error"
      for its endpoints and is itself a proxy in front of Meta: a 500, 502, 503 or 504 may be
      answered after the message was handed on (a proxy answers 503 or 504 when the upstream
      is slow, not only when it refused the request). One 5xx is a refusal by Meta itself: a
      503 carrying Meta's code 2 ("API Service: temporary due to downtime or due to being
      overloaded"), the status Meta documents for that code.

    Example:
        >>> [status_may_have_been_acted_upon(s) for s in (200, 301, 400, 429, 501, 503)]
        [True, False, False, False, False, True]
        >>> status_may_have_been_acted_upon(503, META_SERVICE_UNAVAILABLE)
        False
    """
    if status >= 500:
        if status == 503 and code == META_SERVICE_UNAVAILABLE:
            return False
        return status not in NOT_PROCESSED_5XX
    if status >= 400:
        return False
    if status >= 300:
        return status not in _NOT_PROCESSED_3XX
    return True


def may_have_been_acted_upon(error: BaseException) -> bool:
    """Whether the request that failed with ``error`` may have been acted upon by the service.

    False means "certainly not": a send that failed so may be sent again without any risk of a
    duplicate. True means the outcome is unknown (or the request was accepted).

    - ``APIConnectionError``: its ``maybe_sent`` (False when the request never reached the
      wire: a failed connect, a pool-wait or connect timeout).
    - ``APIStatusError``: :func:`status_may_have_been_acted_upon` of its status and Meta
      code; a throttling error (``RateLimitError``, 429 or another 4xx) was not acted upon,
      nor was Meta's own 503 (code 2).
    - ``APIResponseError`` (a 2xx whose body could not be read): yes.
    - An ``APIError`` or ``LimiterUnavailableError`` whose request had an earlier attempt
      that may have been acted upon (``RetryPolicy(retry_ambiguous_sends=True)``): yes,
      whatever the last attempt said.
    - Any other ``D360Error`` (bad input, a closed client, a limiter that could not decide):
      raised before the request was written, so no.
    - Anything else (a cancellation, an unexpected exception): cannot tell, so yes. A caller
      that passed ``on_wire`` to the transport knows better for a cancellation: if its
      ``on_wire`` never returned, the request was never written in full.

    Example:
        >>> may_have_been_acted_upon(APIConnectionError("refused", maybe_sent=False))
        False
        >>> may_have_been_acted_upon(APIStatusError(504, "gateway timeout"))
        True
    """
    if isinstance(error, (APIError, LimiterUnavailableError)) and error.maybe_sent_before:
        return True
    if isinstance(error, APIConnectionError):
        return error.maybe_sent
    if isinstance(error, APIStatusError):
        return status_may_have_been_acted_upon(error.status, error.code)
    if isinstance(error, APIResponseError):
        return True
    return not isinstance(error, D360Error)
