"""What the mechanisms (``cms.consent``, ``cms.retention``, ``cms.dsr``, ``cms.storage``) need
of the open sandbox they work in, as Protocols.

The facade (:class:`sandbox_cms.cms.Sandbox`) creates each mechanism on first use and hands
it itself; the mechanism knows it only through :class:`SandboxHost`, so the imports go one
way, from the facade down to the mechanisms, never back up.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from sandbox_cms.privacy.access import Processing, ProcessingHost
from sandbox_cms.privacy.erasure import InvoiceRule


class KeepsInvoices(Protocol):
    """The retention schedule, as erasure needs it: how long invoices are kept."""

    def invoice_rule(self) -> InvoiceRule: ...


class Reerased(Protocol):
    customer_id: int


class ReappliesErasures(Protocol):
    """The data-subject requests, as a restore needs them: erase again whom a backup
    brought back."""

    def reapply_erasures(self) -> Sequence[Reerased]: ...


class SandboxHost(ProcessingHost, Protocol):
    """An open sandbox: its file, connection, register, clock and audit log, the privileged
    route for the CMS's own purposes, and the mechanisms one mechanism asks of another."""

    path: Path

    def _internal(self, purpose: str, actor: str) -> Processing: ...

    def flush(self) -> None: ...

    def close(self) -> None: ...

    def reopen(self) -> None: ...

    @property
    def retention(self) -> KeepsInvoices: ...

    @property
    def dsr(self) -> ReappliesErasures: ...
