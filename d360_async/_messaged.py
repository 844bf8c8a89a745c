"""``MessagedRecipients``: the recipients a journal holds as (maybe) messaged, kept compact.

A re-run de-duplicates its recipients against the journal's ``sent``, ``unknown`` and
``pending`` rows at other positions (a rejected row fixed must not message a recipient an
earlier run already reached). A journal of a million rows must not cost a million Python
strings: each row is kept as its 128-bit recipient digest and its index in three arrays
(24 bytes a row), sorted once, looked up by bisection.
"""

from __future__ import annotations

import hashlib
from array import array
from bisect import bisect_left

__all__ = ["MessagedRecipients"]

_HEX_DIGEST = 32
_LOW = (1 << 64) - 1


def _value(recipient: str) -> int:
    """The recipient digest as a 128-bit integer (another form of digest is hashed to one)."""
    if len(recipient) == _HEX_DIGEST:
        try:
            return int(recipient, 16)
        except ValueError:
            pass
    return int.from_bytes(hashlib.blake2b(recipient.encode(), digest_size=16).digest())


class MessagedRecipients:
    """Recipient digests with the index of each row that holds them.

    Example:
        >>> messaged = MessagedRecipients()
        >>> messaged.add("0f" * 16, 7)
        >>> messaged.elsewhere("0f" * 16, 3), messaged.elsewhere("0f" * 16, 7), len(messaged)
        (7, None, 1)
    """

    __slots__ = ("_high", "_indices", "_low", "_sorted")

    def __init__(self) -> None:
        self._high = array("Q")
        self._low = array("Q")
        self._indices = array("q")
        self._sorted = True

    def __len__(self) -> int:
        return len(self._indices)

    def add(self, recipient: str, index: int) -> None:
        """Add a row (cheapest in order of recipient digest, then index)."""
        value = _value(recipient)
        high, low = value >> 64, value & _LOW
        if self._sorted and self._high:
            last = (self._high[-1], self._low[-1], self._indices[-1])
            self._sorted = last <= (high, low, index)
        self._high.append(high)
        self._low.append(low)
        self._indices.append(index)

    def elsewhere(self, recipient: str, index: int) -> int | None:
        """The index of a row other than ``index`` that holds ``recipient``, or None."""
        if not self._sorted:
            self._sort()
        value = _value(recipient)
        high, low = value >> 64, value & _LOW
        highs = self._high
        at = bisect_left(highs, high)
        while at < len(highs) and highs[at] == high:
            if self._low[at] == low and self._indices[at] != index:
                return self._indices[at]
            at += 1
        return None

    def _sort(self) -> None:
        high, low, indices = self._high, self._low, self._indices
        order = sorted(range(len(indices)), key=lambda i: (high[i], low[i], indices[i]))
        self._high = array("Q", (high[i] for i in order))
        self._low = array("Q", (low[i] for i in order))
        self._indices = array("q", (indices[i] for i in order))
        self._sorted = True
