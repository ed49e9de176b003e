"""One error hierarchy with user-facing messages, and the one place that maps errors to exit codes."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Process exit codes, documented in the README."""

    OK = 0
    FAILED = 1  # differences found, check failed, verification failed
    BAD_INPUT = 2  # unreadable file, bad arguments, unavailable device
    INTERRUPTED = 130


class CkptError(Exception):
    """An error with a one-line message that says what is wrong and, where it can, what to do."""

    exit_code = ExitCode.BAD_INPUT

    def __init__(self, message: str, path: str | None = None) -> None:
        super().__init__(message)
        self.path = path

    def __str__(self) -> str:
        message = super().__str__()
        return f"{self.path}: {message}" if self.path else message


class UnreadableError(CkptError):
    """The file is missing, unreadable, truncated, or not a checkpoint we can read."""


class UnsupportedFormatError(CkptError):
    """The file is a recognised format that this tool does not read (yet)."""


class InvalidCheckpointError(CkptError):
    """The file parses but contradicts itself: sizes, offsets or shapes that cannot be right."""


class DeviceError(CkptError):
    """The requested device does not exist on this machine."""


class UsageError(CkptError):
    """The arguments do not make sense together."""


class OutputExistsError(CkptError):
    """The output path exists and --force was not given."""


class WriteError(CkptError):
    """Writing the output failed (disk full, permissions); nothing was left behind."""


class VerificationError(CkptError):
    """The written output does not read back identical to the source; it was removed."""

    exit_code = ExitCode.FAILED


class ModelImportError(CkptError):
    """The user's model class could not be imported or built."""


def exit_code_for(error: BaseException) -> ExitCode:
    """The exit code for an error that reached the front end."""
    if isinstance(error, KeyboardInterrupt):
        return ExitCode.INTERRUPTED
    if isinstance(error, CkptError):
        return error.exit_code
    return ExitCode.BAD_INPUT


class Cancelled(CkptError):
    """The caller asked the computation to stop."""
