"""A webshop back office that holds only synthetic customers, for a privacy-engineering course."""

from sandbox_cms.cms import Sandbox, fresh_sandbox, open_sandbox
from sandbox_cms.core.version import __version__

__all__ = ["Sandbox", "fresh_sandbox", "open_sandbox", "__version__"]
