"""Which member of a run is the best and which the latest, and by what rule (see `core/runs.py`)."""

from __future__ import annotations

import math
import os

from ckpt_tui.reports import Pick, RunMember

HEURISTIC = (("val_loss", "min"), ("val_acc", "max"), ("val_accuracy", "max"), ("eval_loss", "min"), ("loss", "min"))
LATEST_STEMS = ("latest", "last")


def pick_best(ordered: list[RunMember], metric: str | None = None, mode: str | None = None) -> Pick | None:
    """The producer's own best when it recorded one, else the heuristic; `metric` forces a metric (and `mode`)."""
    if metric is not None:
        return _by_metric(ordered, metric, mode or _default_mode(metric))
    found = producer_best(ordered)
    if found is not None:
        return found
    for name, how in HEURISTIC:
        found = _by_metric(ordered, name, how)
        if found is not None:
            return found
    return None


def producer_best(ordered: list[RunMember]) -> Pick | None:
    """The best as the producer recorded it (Lightning, the Trainer, a file named best*), or None."""
    for rule in (_lightning_best, _trainer_best, _named_best):
        found = rule(ordered)
        if found is not None:
            return found
    return None


def pick_latest(ordered: list[RunMember]) -> Pick | None:
    for m in ordered:
        link = next((n for n in m.links if _stem(n) in LATEST_STEMS or n.lower().startswith(LATEST_STEMS)), None)
        if link is not None:
            return Pick(m.path, f"symlink {link}")
    named = [m for m in ordered if _stem(m.name) in LATEST_STEMS and m.symlink is None]
    if named:
        return Pick(named[-1].path, f"file name {named[-1].name}")
    return Pick(ordered[-1].path, "last in training order") if ordered else None


def declared_best_paths(ordered: list[RunMember]) -> set[str]:
    """What the producer kept as a best: files named best*, Lightning's top-k, the Trainer's best checkpoint."""
    paths = {m.path for m in ordered if m.name.lower().startswith("best") or "_best" in m.name.lower()}
    newest = _newest_with(ordered, "lightning")
    if newest is not None:
        for kept in newest.lightning.get("best_k_models", []) or []:  # type: ignore[attr-defined]
            paths |= {m.path for m in _by_basename(ordered, str(kept))}
    trainer = _trainer_best(ordered)
    if trainer is not None:
        paths.add(trainer.path)
    return paths


def _lightning_best(ordered: list[RunMember]) -> Pick | None:
    newest = _newest_with(ordered, "lightning")
    if newest is None or not newest.lightning.get("best_model_path"):
        return None
    hits = _by_basename(ordered, str(newest.lightning["best_model_path"]))
    if not hits:
        return None
    score = newest.lightning.get("best_model_score")
    return Pick(
        hits[0].path,
        "Lightning ModelCheckpoint best_model_path",
        str(newest.lightning.get("monitor")),
        str(newest.lightning.get("mode")),
        float(score) if isinstance(score, (int, float)) else None,
    )


def _trainer_best(ordered: list[RunMember]) -> Pick | None:
    newest = _newest_with(ordered, "trainer_best")
    if newest is None or newest.trainer_best is None:
        return None
    path, value, metric = newest.trainer_best
    hits = _by_basename(ordered, path)
    if not hits:
        return None
    mode = _default_mode(metric) if metric else None
    return Pick(hits[0].path, "trainer_state.json best_model_checkpoint", metric, mode, value)


def _named_best(ordered: list[RunMember]) -> Pick | None:
    named = [m for m in ordered if m.name.lower().startswith("best") or "_best" in m.name.lower()]
    if not named:
        return None
    newest = max(named, key=lambda m: m.mtime)
    for name, how in HEURISTIC:
        if name in newest.metrics:
            return Pick(newest.path, f"file name {newest.name}", name, how, float(newest.metrics[name].value))
    return Pick(newest.path, f"file name {newest.name}")


def _by_metric(ordered: list[RunMember], metric: str, mode: str) -> Pick | None:
    scored = [(float(m.metrics[metric].value), i, m) for i, m in enumerate(ordered) if metric in m.metrics]
    scored = [s for s in scored if not math.isnan(s[0])]
    if not scored:
        return None
    value, _, best = min(scored, key=lambda s: (s[0] if mode == "min" else -s[0], s[1]))
    return Pick(best.path, f"{mode} {metric}", metric, mode, value)


def _default_mode(metric: str) -> str:
    low = metric.lower()
    return "min" if any(w in low for w in ("loss", "error", "err", "perplexity", "ppl")) else "max"


def _newest_with(ordered: list[RunMember], attribute: str) -> RunMember | None:
    having = [m for m in ordered if getattr(m, attribute)]
    return having[-1] if having else None


def _by_basename(ordered: list[RunMember], path: str) -> list[RunMember]:
    base = os.path.basename(path.rstrip("/\\"))
    return [m for m in ordered if m.name == base and m.symlink is None] or [m for m in ordered if m.name == base]


def _stem(name: str) -> str:
    return name.lower().split(".", 1)[0]
