"""The package version, kept in the bottom layer so that any layer can stamp it on what it
writes (provenance rows, the command line's ``--version``)."""

__version__ = "0.1.0"
