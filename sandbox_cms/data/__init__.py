"""Data coming in: synthetic generation (scenario, synth, parts, build), import through the
guard (records, reference, guard, importer), scans for real-looking data, and the shop's
checkout. Builds on the policy layer (``sandbox_cms.privacy``) and ``sandbox_cms.core``."""
