"""What fixes it, in the CLI's words: the flags for the settings, remedies and hints that the core reports as data.

The core and the writers say what is wrong (`CkptError.setting`/`.remedy`, `KeyHint`, notice codes); only here
do command lines appear. The app words the same data as its own controls.
"""

from __future__ import annotations

from ckpt_tui.errors import CkptError, Remedy, Setting
from ckpt_tui.model import Notice, NoticeCode
from ckpt_tui.reports import OUTSIDE_STATE_DICT, KeyHint

FLAGS = {
    Setting.RENAME: "--rename",
    Setting.DTYPE: "--dtype",
    Setting.MAX_SHARD_SIZE: "--max-shard-size",
    Setting.OUTPUT_FORMAT: "--to",
    Setting.KWARGS: "--kwargs",
    Setting.FORWARD: "--forward",
    Setting.MODEL: "--model",
}
REMEDIES = {
    Remedy.FORCE: "use --force to replace it",
    Remedy.OTHER_OUTPUT: "choose another -o",
    Remedy.UNSAFE: "try --unsafe if you trust it",
    Remedy.HOST_DEVICE: "use --device cpu or meta",
    Remedy.SAFETENSORS_OUTPUT: "use --to safetensors, or save its state_dict()",
    Remedy.SAFETENSORS_ONLY_OPTIONS: "--dtype, --max-shard-size, --all and --key apply to safetensors output",
    Remedy.IMPORT_PATH: "is it on PYTHONPATH? see --path",
    Remedy.SAFETENSORS_TENSORS: "--to safetensors writes its tensors",
    Remedy.CARRY_UNSAFE: "use --to safetensors, or --carry-unsafe-globals to copy them (the output is then no safer "
    "than the input)",
}


def error_text(error: CkptError) -> str:
    """The error's one line with flags: '--dtype must be one of ...', '... exists; use --force to replace it'."""
    setting = FLAGS.get(error.setting) if error.setting is not None else None
    remedy = REMEDIES.get(error.remedy) if error.remedy is not None else None
    return error.describe(setting, remedy)


def strip_flag(prefix: str) -> str:
    return "--strip-module" if prefix == "module." else "--strip-wrappers"


def key_hint_text(hint: KeyHint | None) -> str | None:
    if hint is None:
        return None
    if hint.add:
        flag = f"--add-prefix {hint.prefix}"
    else:
        flag = strip_flag(hint.prefix) if hint.wrapper else f"--strip-prefix {hint.prefix}"
    return f"all {hint.count} {hint.label} carry '{hint.prefix}' — use {flag}"


def notice_text(notice: Notice, path: str = "") -> str:
    """A notice's message, with the command that acts on it where there is one (`path`: the checkpoint's)."""
    if notice.code == NoticeCode.WRAPPER_PREFIX and path:
        return f"{notice.message}; strip it with: ckpt-tui convert {strip_flag(notice.subject)} {path}"
    return notice.message


def not_carried_text(reason: str) -> str:
    return f"{reason} (use --all or --key)" if reason == OUTSIDE_STATE_DICT else reason
