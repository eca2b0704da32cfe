"""A webshop back office that holds only synthetic customers, for a privacy-engineering course.

The public API: everything a notebook needs, imported from here
(``from sandbox_cms import fresh_sandbox, erase_customers``). The package is split into layers
(``core`` < ``privacy`` < ``data`` < ``cms`` < ``web`` / ``notebook`` < ``cli``; see
docs/architecture.md); the names below are loaded on first use, so ``import sandbox_cms``
stays cheap for the command line and the Jupyter server (no Flask, Faker or ipywidgets
until a name that needs them is asked for).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from sandbox_cms.core.version import __version__

# name -> the module that defines it (loaded on first access, see __getattr__).
_EXPORTS: dict[str, str] = {
    # the facade
    "Sandbox": "sandbox_cms.cms",
    "fresh_sandbox": "sandbox_cms.cms",
    "open_sandbox": "sandbox_cms.cms",
    # errors
    "SandboxError": "sandbox_cms.core.errors",
    "UnknownCustomer": "sandbox_cms.core.errors",
    # data: building and checking synthetic data
    "build_sandbox": "sandbox_cms.data.build",
    "email_domain": "sandbox_cms.data.guard",
    "iban_is_valid": "sandbox_cms.data.guard",
    "iban_problem": "sandbox_cms.data.guard",
    "is_reserved_domain": "sandbox_cms.data.guard",
    "possible_bsns": "sandbox_cms.data.guard",
    "consent_questions": "sandbox_cms.data.shop",
    # privacy mechanisms
    "ProcessingDb": "sandbox_cms.privacy.erasure",
    "erase_customers": "sandbox_cms.privacy.erasure",
    "check_transfer": "sandbox_cms.privacy.storage",
    "load_adequacy": "sandbox_cms.privacy.storage",
    "restore_database": "sandbox_cms.privacy.backup",
    "verify_backup": "sandbox_cms.privacy.backup",
    # notebook widgets (ipywidgets)
    "AuditLogView": "sandbox_cms.notebook.widgets",
    "ClockControl": "sandbox_cms.notebook.widgets",
    "ConsentForm": "sandbox_cms.notebook.widgets",
    "CustomerCard": "sandbox_cms.notebook.widgets",
    # notebook charts (SVG drawn from the learner's sandbox)
    "access_copy_chart": "sandbox_cms.notebook.charts",
    "consent_history": "sandbox_cms.notebook.charts",
    "retention_timeline": "sandbox_cms.notebook.charts",
    "transfer_map": "sandbox_cms.notebook.charts",
    # the notebook's own sandbox in the web CMS
    "show_in_browser": "sandbox_cms.web.link",
}

__all__ = [
    "__version__",
    "Sandbox", "fresh_sandbox", "open_sandbox",
    "SandboxError", "UnknownCustomer",
    "build_sandbox",
    "email_domain", "iban_is_valid", "iban_problem", "is_reserved_domain", "possible_bsns",
    "consent_questions",
    "ProcessingDb", "erase_customers",
    "check_transfer", "load_adequacy",
    "restore_database", "verify_backup",
    "AuditLogView", "ClockControl", "ConsentForm", "CustomerCard",
    "access_copy_chart", "consent_history", "retention_timeline", "transfer_map",
    "show_in_browser",
]  # the same names as _EXPORTS (tests/test_layers.py checks)

if TYPE_CHECKING:  # the same names for type checkers, editors and import-linter's graph
    from sandbox_cms.cms import Sandbox, fresh_sandbox, open_sandbox
    from sandbox_cms.core.errors import SandboxError, UnknownCustomer
    from sandbox_cms.data.build import build_sandbox
    from sandbox_cms.data.guard import (
        email_domain,
        iban_is_valid,
        iban_problem,
        is_reserved_domain,
        possible_bsns,
    )
    from sandbox_cms.data.shop import consent_questions
    from sandbox_cms.notebook.charts import (
        access_copy_chart,
        consent_history,
        retention_timeline,
        transfer_map,
    )
    from sandbox_cms.notebook.widgets import AuditLogView, ClockControl, ConsentForm, CustomerCard
    from sandbox_cms.privacy.backup import restore_database, verify_backup
    from sandbox_cms.privacy.erasure import ProcessingDb, erase_customers
    from sandbox_cms.privacy.storage import check_transfer, load_adequacy
    from sandbox_cms.web.link import show_in_browser


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'sandbox_cms' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # the next access is a plain lookup
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
