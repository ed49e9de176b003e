"""Why a global outside the allow-list would be dangerous to import, in one line for the notices."""

from __future__ import annotations

from ckpt_tui.model import Notice, NoticeCode, Severity

_DANGEROUS = {
    "os": "runs shell commands and touches files",
    "posix": "runs shell commands and touches files",
    "nt": "runs shell commands and touches files",
    "subprocess": "starts processes",
    "pty": "starts processes",
    "builtins": "can evaluate code, import modules or reach any attribute",
    "importlib": "imports any module",
    "runpy": "runs any module as a script",
    "pickle": "unpickles a nested payload",
    "_pickle": "unpickles a nested payload",
    "marshal": "loads raw code objects",
    "types": "builds functions and code objects",
    "functools": "calls any function it is given",
    "operator": "reaches attributes or calls methods by name",
    "sys": "reaches the interpreter's modules",
    "shutil": "copies and deletes files",
    "socket": "opens network connections",
    "webbrowser": "opens URLs",
    "code": "evaluates code",
    "codeop": "compiles code",
    "ctypes": "calls native code",
    "torch._utils": "is not one of torch's tensor rebuilders",
    "collections": "is not OrderedDict",
    "torch.storage": "is not a storage class",
    "torch.serialization": "can load nested checkpoints",
}
_DATA_CLASSES = {
    "argparse.Namespace",
    "pathlib.PosixPath",
    "pathlib.WindowsPath",
    "pathlib.PurePosixPath",
    "datetime.datetime",
    "datetime.date",
    "datetime.timedelta",
    "decimal.Decimal",
    "fractions.Fraction",
    "uuid.UUID",
    "torch.torch_version.TorchVersion",
}


def notice_for_global(qualname: str, count: int) -> Notice:
    times = f" ({count}×)" if count > 1 else ""
    if qualname in _DATA_CLASSES:
        message = f"{qualname}{times}: a plain data class, shown from its pickled fields without importing it"
        return Notice(NoticeCode.UNKNOWN_GLOBAL, Severity.INFO, message, qualname)
    module = qualname.split(".")[0]
    if module == "__torch__":
        message = f"{qualname}{times}: a TorchScript class; its compiled code is in the archive and is not run"
        return Notice(NoticeCode.TORCHSCRIPT_CLASS, Severity.INFO, message, qualname)
    reason = _DANGEROUS.get(qualname.rpartition(".")[0]) or _DANGEROUS.get(module)
    if reason:
        message = f"{qualname}{times}: not imported — it {reason}; torch.load(weights_only=False) would run it"
    else:
        message = f"{qualname}{times}: not imported — loading it would import '{module}' and run its code"
    return Notice(NoticeCode.UNKNOWN_GLOBAL, Severity.WARNING, message, qualname)
