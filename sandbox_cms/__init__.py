"""A webshop back office that holds only synthetic customers, for a privacy-engineering course."""

__version__ = "0.1.0"

from sandbox_cms.cms import Sandbox, fresh_sandbox, open_sandbox  # noqa: E402

__all__ = ["Sandbox", "fresh_sandbox", "open_sandbox", "__version__"]
