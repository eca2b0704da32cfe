"""A webshop back office that holds only synthetic customers, for a privacy-engineering course."""

__version__ = "0.1.0"
