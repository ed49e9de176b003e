"""The user's own model code: `pkg.module:Class` (or a factory), its kwargs, an input shape for a forward pass.

This imports the user's code, deliberately — it is their repository, not the checkpoint. The checkpoint itself is
still read with the safe reader.
"""

from __future__ import annotations

import importlib
import json
import re
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from ckpt_tui.errors import ModelImportError, Remedy, Setting, UsageError

TARGET = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")


def parse_kwargs(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise UsageError(f"is not valid JSON: {e}", setting=Setting.KWARGS) from None
    if not isinstance(value, dict):
        raise UsageError("must be a JSON object, e.g. '{\"classes\": 10}'", setting=Setting.KWARGS)
    return value


def parse_shape(text: str | None) -> tuple[tuple[int, ...], str] | None:
    """'4,8' or '1x3x224x224' or '2x16:long' -> ((4, 8), 'float32')."""
    if not text:
        return None
    dims, _, dtype = text.partition(":")
    try:
        shape = tuple(int(d) for d in re.split(r"[x,]", dims.strip()) if d)
    except ValueError:
        raise UsageError(
            f"takes a shape like 4,8 or 1x3x224x224[:long], got {text!r}", setting=Setting.FORWARD
        ) from None
    if not shape or any(d <= 0 for d in shape):
        raise UsageError(f"must be positive, got {text!r}", setting=Setting.FORWARD)
    dtype = {"": "float32", "long": "int64", "int": "int64", "float": "float32", "half": "float16"}.get(dtype, dtype)
    return shape, dtype


@contextmanager
def importable_from(paths: Sequence[str]) -> Iterator[None]:
    """The current directory and `paths` on sys.path while the user's code is imported."""
    added = [p for p in (*paths, "") if p not in sys.path]
    sys.path[:0] = added
    try:
        yield
    finally:
        for p in added:
            if p in sys.path:
                sys.path.remove(p)


def import_target(target: str, paths: Sequence[str] = ()) -> Any:
    if not TARGET.match(target):
        raise UsageError(f"takes pkg.module:Class (or :factory), got {target!r}", setting=Setting.MODEL)
    module_name, _, attribute = target.partition(":")
    with importable_from(paths):
        try:
            obj: Any = importlib.import_module(module_name)
        except ImportError as e:
            raise ModelImportError(f"cannot import {module_name!r}: {e}", remedy=Remedy.IMPORT_PATH) from None
        except Exception as e:  # noqa: BLE001 - the user's module failed while importing
            raise ModelImportError(f"importing {module_name!r} failed: {type(e).__name__}: {e}") from None
    for part in attribute.split("."):
        if not hasattr(obj, part):
            raise ModelImportError(f"{module_name!r} has no attribute {attribute!r}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise ModelImportError(f"{target} is not a class or a function")
    return obj


def build_model(target: str, kwargs: dict[str, Any], device: Any, paths: Sequence[str] = ()) -> Any:
    """The model built on `device` (on meta: no memory is allocated for its weights)."""
    import torch

    factory = import_target(target, paths)
    try:
        with torch.device(device):
            model = factory(**kwargs)
    except TypeError as e:
        raise ModelImportError(f"building {target}(**{kwargs}) failed: {e}") from None
    except Exception as e:  # noqa: BLE001 - the user's constructor failed
        raise ModelImportError(f"building {target} failed: {type(e).__name__}: {e}") from None
    if not isinstance(model, torch.nn.Module):
        raise ModelImportError(f"{target} returned a {type(model).__name__}, not a torch.nn.Module")
    return model
