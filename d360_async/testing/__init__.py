"""A local emulator of 360dialog's MM Lite API, for tests and benchmarks.

In process::

    from d360_async.testing import Emulator

    async with Emulator(rate=None) as emu:
        ...  # point the client at emu.url with emu.api_key

Out of process: ``python -m d360_async.testing --port 8360 --api-key KEY``. With pytest, the
``d360_emulator`` and ``d360_client`` fixtures are registered automatically.
"""

from ._config import DEFAULT_API_KEY, EmulatorConfig
from ._emulator import OPERATIONS, Emulator
from ._faults import FAULT_KINDS
from ._records import Dataset, RecordedEvent, RecordedSend
from ._templates import Template
from ._webhook_plan import GeneratedStatus, WebhookSettings
from ._webhooks import WebhookSender

__all__ = [
    "DEFAULT_API_KEY",
    "FAULT_KINDS",
    "OPERATIONS",
    "Dataset",
    "Emulator",
    "EmulatorConfig",
    "GeneratedStatus",
    "RecordedEvent",
    "RecordedSend",
    "Template",
    "WebhookSender",
    "WebhookSettings",
]
