"""Named exceptions. Library code raises these; only the CLI and web app turn them into messages."""


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
