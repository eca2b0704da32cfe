"""Policy and privacy mechanisms: the register, access gate, audit log, consent, erasure,
retention, data-subject requests, storage and backups. Each receives what it needs (a
connection, a clock, the register) and imports only from here and ``sandbox_cms.core``."""
