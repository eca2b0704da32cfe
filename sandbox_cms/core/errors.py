"""Named exceptions. Library code raises these; only the CLI and web app turn them into messages."""

import sqlite3


class SandboxError(Exception):
    """Base class: a problem the user can fix, with a message meant for them."""


class ScenarioError(SandboxError):
    """A scenario file is missing, malformed or has an invalid value."""


class SandboxExists(SandboxError):
    """The target database exists and overwriting was not asked for."""


class NotASandbox(SandboxError):
    """The file is missing or is not a sandbox database."""


class CourseError(SandboxError):
    """The course, an exercise definition or a classroom folder is missing or malformed."""


class ReferenceDataError(SandboxError):
    """A reference list in datasets/reference/ is missing, malformed or has an invalid value."""


class RecordFileError(SandboxError):
    """A CSV or JSON record file cannot be read: not UTF-8, malformed, empty or too large."""


class ImportRefused(SandboxError):
    """The guard refused one or more records, so nothing was imported (see ``refusals``)."""

    def __init__(self, refusals: list[str]):
        self.refusals = refusals
        super().__init__(f"{len(refusals)} refusal(s), nothing imported:\n" + "\n".join(refusals))


class ScanError(SandboxError):
    """The file or database to scan cannot be read."""


class UnknownCustomer(SandboxError):
    """No customer with that id or e-mail address: nothing was changed."""


class ConsentRefused(SandboxError):
    """A consent event was refused (unknown purpose, text version, event, method or time)."""


class RequestError(SandboxError):
    """A data-subject request cannot go on: unknown or expired token, or the wrong status."""


class RetentionError(SandboxError):
    """The retention schedule is malformed or names an unknown category or event."""


class BackupError(SandboxError):
    """A backup cannot be made, or is damaged and is refused: the database is untouched."""


class LocationError(SandboxError):
    """The storage locations or the adequacy list are malformed or missing."""


class PolicyError(SandboxError):
    """The processing register or the data categories in datasets/policy/ are malformed."""


class UnknownPurpose(SandboxError):
    """No purpose of that name in the processing register."""


class PurposeViolation(SandboxError, sqlite3.DatabaseError):
    """Personal data was read or written outside the declared purpose (art. 5(1)(b)/(c))."""

    def __init__(self, message: str, purpose: str | None = None, columns: tuple[str, ...] = ()):
        self.purpose, self.columns = purpose, columns
        super().__init__(message)


class ClockError(SandboxError):
    """The simulated clock was given a bad time, or asked to move backwards."""


class ProcessingError(SandboxError):
    """A processing context or action was misused (nested, closed, bad arguments)."""


class AuditLogDamaged(SandboxError):
    """The audit log's bookkeeping in ``meta`` was changed so that no entry can be chained."""


class UnknownToken(RequestError):
    """No data-subject request has this confirmation code (the web shows a 404 page)."""
