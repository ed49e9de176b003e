"""What a checkpoint is, in numbers: counts, bytes per dtype, where the parts are, and what to watch out for."""

from __future__ import annotations

from collections import Counter, defaultdict
from math import prod
from operator import attrgetter

from ckpt_tui.core.keys import wrapper_prefixes
from ckpt_tui.core.layout import detect_framework, find_optimizers, find_schedulers, find_state_dict, tensors_under
from ckpt_tui.dtypes import itemsize
from ckpt_tui.model import (
    Checkpoint,
    Notice,
    NoticeCode,
    Severity,
    TensorInfo,
)
from ckpt_tui.reports import Summary, TopLevelItem

TOP_LEVEL_SHOWN = 200
_DTYPE, _SHAPE, _STORAGE_KEY = attrgetter("dtype"), attrgetter("shape"), attrgetter("storage.key")


def summarize(ckpt: Checkpoint) -> Summary:
    numel_by_dtype: dict[str, int] = {}
    infos = ckpt.tensors.values()  # one pass, kept lean (in C where it can be): 100k-tensor files
    for dtype, numel in zip(map(_DTYPE, infos), map(prod, map(_SHAPE, infos))):  # noqa: B905 - one sequence
        numel_by_dtype[dtype] = numel_by_dtype.get(dtype, 0) + numel
    elements = sum(numel_by_dtype.values())
    by_dtype = Counter({dtype: n * itemsize(dtype) for dtype, n in numel_by_dtype.items()})
    state_dict = find_state_dict(ckpt)
    model_tensors = (ckpt.tensors if not state_dict.path else tensors_under(state_dict.entry)) if state_dict else {}
    notices = shared_storage_notices(ckpt.tensors) + prefix_notices(list(model_tensors))
    return Summary(
        ckpt.path,
        ckpt.format,
        detect_framework(ckpt),
        ckpt.file_size,
        len(ckpt.tensors),
        elements,
        sum(by_dtype.values()),
        dict(by_dtype.most_common()),
        tuple(TopLevelItem(k, e) for k, e in ckpt.root.children[:TOP_LEVEL_SHOWN]),
        len(ckpt.root.children),
        state_dict,
        elements if state_dict and not state_dict.path else sum(t.numel for t in model_tensors.values()),
        tuple(find_optimizers(ckpt)),
        tuple(find_schedulers(ckpt)),
        ckpt.notices + tuple(notices),
    )


def shared_storage_notices(tensors: dict[str, TensorInfo]) -> list[Notice]:
    """One notice per storage that backs more than one tensor key (tied weights, views)."""
    # storage keys used more than once, counted first: no object per tensor (100k-tensor files share almost none)
    uses = Counter(map(_STORAGE_KEY, tensors.values()))
    shared = {key for key, n in uses.items() if n > 1 and key}  # meta tensors (no key) share nothing
    users: dict[tuple[str, str, str | None], list[str]] = defaultdict(list)
    for key, info in tensors.items() if shared else ():
        s = info.storage
        if s.key in shared:
            users[(s.file, s.key, s.member)].append(key)
    out = []
    for keys in users.values():
        if len(keys) > 1:
            shown = ", ".join(keys[:4]) + (f" (+{len(keys) - 4} more)" if len(keys) > 4 else "")
            out.append(
                Notice(
                    NoticeCode.SHARED_STORAGE, Severity.INFO, f"{len(keys)} tensors share one storage: {shown}", keys[0]
                )
            )
    return out


def prefix_notices(keys: list[str]) -> list[Notice]:
    notices = []
    for prefix, count in wrapper_prefixes(keys).items():
        message = f"{count} of {len(keys)} state dict keys carry the wrapper prefix '{prefix}'"
        notices.append(Notice(NoticeCode.WRAPPER_PREFIX, Severity.WARNING, message, prefix))
    return notices
