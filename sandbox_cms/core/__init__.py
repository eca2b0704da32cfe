"""The bottom layer: errors, the sandbox clock and dates, the schema, transactions, paging and
the project's data files. Imports nothing else from ``sandbox_cms``."""
