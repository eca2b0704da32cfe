"""Notebook widgets (ipywidgets) over the mechanisms; imported only by notebooks."""
