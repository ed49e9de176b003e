"""One error hierarchy with user-facing messages, and the one place that maps errors to exit codes."""

from __future__ import annotations

from enum import IntEnum, StrEnum


class ExitCode(IntEnum):
    """Process exit codes, documented in the README."""

    OK = 0
    FAILED = 1  # differences found, check failed, verification failed
    BAD_INPUT = 2  # unreadable file, bad arguments, unavailable device
    INTERRUPTED = 130


class Setting(StrEnum):
    """A setting whose value an error is about. Each value is its name in words (the Python API, the app); the
    CLI names it by its flag (commands/_hints.py)."""

    RENAME = "rename rule"
    DTYPE = "dtype"
    MAX_SHARD_SIZE = "max shard size"
    OUTPUT_FORMAT = "output format"
    KWARGS = "model kwargs"
    FORWARD = "forward shape"
    MODEL = "model"


class Remedy(StrEnum):
    """What would fix an error, in words; the CLI says which flag does it (commands/_hints.py), the app which
    control."""

    FORCE = "replacing it must be asked for"
    OTHER_OUTPUT = "choose another output"
    UNSAFE = "load it with the full unpickler if you trust it"
    HOST_DEVICE = "use the cpu or meta device"
    SAFETENSORS_OUTPUT = "convert to safetensors, or save its state_dict()"
    SAFETENSORS_ONLY_OPTIONS = "dtype, shard size, all tensors and key apply to safetensors output"
    IMPORT_PATH = "is it on PYTHONPATH?"
    SAFETENSORS_TENSORS = "a safetensors output writes its tensors"
    CARRY_UNSAFE = "convert to safetensors, or carry them on purpose (the output is then no safer than the input)"


class CkptError(Exception):
    """An error with a one-line message that says what is wrong and, where it can, what to do: `setting` names the
    setting whose value is wrong, `remedy` what would fix it, as data that a front end words in its own terms."""

    exit_code = ExitCode.BAD_INPUT

    def __init__(
        self, message: str, path: str | None = None, *, setting: Setting | None = None, remedy: Remedy | None = None
    ) -> None:
        super().__init__(message)
        self.path = path
        self.setting = setting
        self.remedy = remedy

    def describe(self, setting: str | None = None, remedy: str | None = None) -> str:
        """The message, with the setting and the remedy worded by the caller (default: in words)."""
        text = super().__str__()
        if self.setting is not None:
            text = f"{setting or self.setting.value} {text}"
        if self.remedy is not None:
            text = f"{text}; {remedy or self.remedy.value}"
        return f"{self.path}: {text}" if self.path else text

    def __str__(self) -> str:
        return self.describe()


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
