"""A stopping rule that looks at training data only, reported beside the fixed epoch budget.

Rule (fixed before the 40-epoch runs were made): stop at the first traced epoch (every
``eval_every`` epochs, where the probe/gallery trace exists as a record) at which the pseudo labels
agree with the previous epoch's at an adjusted Rand index of at least ``THRESHOLD`` on every level
(:func:`himpc.engine.label_agreement`); if no traced epoch qualifies, the budget's last epoch.
The rule never reads the trace; the trace is only where the chosen epoch's numbers are read off.
"""

from __future__ import annotations

from typing import Optional

THRESHOLD = 0.9
RULE = (f"first traced epoch whose pseudo labels agree with the previous epoch's at ARI >= {THRESHOLD} "
        "on every level (training data only); else the last epoch")


def stopping_epoch(history: list[dict], threshold: float = THRESHOLD) -> Optional[dict]:
    """The epoch the rule picks in a run's ``history``: ``{"epoch": 1-based, "agreement": ..., "test": ...,
    "triggered": bool}``; None when the run recorded no label agreement (older runs)."""
    if not any(h.get("label_agreement") for h in history):
        return None
    traced = [h for h in history if h.get("test")]
    for h in traced:
        agree = h.get("label_agreement") or {}
        if agree and min(agree.values()) >= threshold:
            return {"epoch": h["epoch"] + 1, "agreement": agree, "test": h["test"], "triggered": True}
    last = history[-1]
    return {"epoch": last["epoch"] + 1, "agreement": last.get("label_agreement") or {}, "test": last.get("test"),
            "triggered": False}
