"""Reference models: trained weights as small, pickle-free ``safetensors`` files.

A reference file holds what a reader needs to rebuild a trained run without retraining:

* the model's parameters (``model.*``), stored in float16 (a full-scale KGBD Hi-MPCh model
  is ~1.8 M parameters, ~3.6 MB);
* the pseudo labels of its last re-clustering (``pseudo_labels`` [L, N] int32, -1 = outlier),
  from which the prototypes are rebuilt on load by Eq. 2 (cluster means of the training
  features), so the prototypes themselves are not stored;
* metadata (strings): the resolved config, the epoch, the training-set size, the layout, the
  metrics the run reported, and a format version.

:func:`load_reference` refuses a file that is missing, truncated, of another format, or
whose model does not fit the config stored in it, naming the file and what differs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Union

import torch

from .config import Config

FORMAT = "himpc-reference-1"


class ReferenceError(RuntimeError):
    """A reference model file that cannot be used (missing, truncated, other config or layout)."""


@dataclass
class Reference:
    """A loaded reference model: config, fp32 model, pseudo labels and stored metadata."""

    path: Path
    cfg: Config
    epoch: int
    model: torch.nn.Module
    pseudo_labels: Optional[torch.Tensor]
    prototype_labels: Optional[torch.Tensor] = None     # None: the prototypes come from pseudo_labels
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def metrics(self) -> dict:
        return self.meta.get("metrics", {})


def save_reference(path: Union[str, Path], model: torch.nn.Module, cfg: Config, epoch: int,
                   pseudo_labels: Optional[torch.Tensor] = None, layout: str = "",
                   metrics: Optional[dict] = None, extra: Optional[dict] = None,
                   prototype_labels: Optional[torch.Tensor] = None) -> Path:
    """Write ``model`` (fp16), ``pseudo_labels`` and metadata to ``path`` (atomic rename).

    ``prototype_labels``: the labels the prototypes were built from, when they differ from the
    training labels (``prototypes_before_intersection``)."""
    from safetensors.torch import save_file
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {f"model.{k}": v.detach().to("cpu", torch.float16).contiguous()
               for k, v in model.state_dict().items()}
    if pseudo_labels is not None:
        tensors["pseudo_labels"] = pseudo_labels.detach().to("cpu", torch.int32).contiguous()
    if prototype_labels is not None and (pseudo_labels is None or not torch.equal(prototype_labels, pseudo_labels)):
        tensors["prototype_labels"] = prototype_labels.detach().to("cpu", torch.int32).contiguous()
    meta = {"format": FORMAT, "config": json.dumps(cfg.to_dict(), sort_keys=True), "epoch": str(int(epoch)),
            "layout": layout, "in_dims": json.dumps(list(getattr(model, "in_dims", ()))),
            "metrics": json.dumps(metrics or {}), "extra": json.dumps(extra or {}, default=str)}
    tmp = path.with_name(path.name + ".tmp")
    save_file(tensors, str(tmp), metadata=meta)
    tmp.replace(path)
    path.chmod(0o644)
    return path


def read_header(path: Union[str, Path]) -> dict[str, Any]:
    """Metadata of a reference file without loading its tensors (config, epoch, metrics...)."""
    from safetensors import safe_open
    path = Path(path)
    if not path.is_file():
        raise ReferenceError(f"reference model {path} does not exist")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = dict(f.metadata() or {})
            keys = list(f.keys())
    except Exception as err:     # safetensors raises its own error types for truncated / foreign files
        raise ReferenceError(f"reference model {path} cannot be read (truncated or not safetensors): {err}") from err
    if meta.get("format") != FORMAT:
        raise ReferenceError(f"reference model {path} has format {meta.get('format')!r}, expected {FORMAT!r}")
    out: dict[str, Any] = {"keys": keys, "epoch": int(meta["epoch"]), "layout": meta.get("layout", "")}
    for k in ("config", "metrics", "extra", "in_dims"):
        out[k] = json.loads(meta.get(k) or "{}")
    return out


def load_reference(path: Union[str, Path], expect: Optional[Config] = None, layout: Optional[str] = None,
                   device: Union[str, torch.device] = "cpu") -> Reference:
    """Load a reference file into an fp32 model.

    ``expect``: a config the file must match in every model field (else :class:`ReferenceError`
    naming the fields); ``layout``: the joint layout name the data uses.
    """
    from safetensors.torch import load_file
    from .model import HiMPCModel
    path = Path(path)
    head = read_header(path)
    cfg = Config.from_dict(head["config"])
    if expect is not None:
        diff = expect.model_differences(head["config"])
        if diff:
            raise ReferenceError(f"reference model {path} was trained with another config: differs in {diff}")
    if layout is not None and head["layout"] and head["layout"] != layout:
        raise ReferenceError(f"reference model {path} was trained on layout {head['layout']!r}, "
                             f"the data uses {layout!r}")
    try:
        tensors = load_file(str(path))
    except Exception as err:
        raise ReferenceError(f"reference model {path} cannot be read (truncated?): {err}") from err
    model = HiMPCModel(head["in_dims"], cfg.hidden, cfg.heads, cfg.meta_heads, cfg.head_init)
    state = {k[len("model."):]: v.float() for k, v in tensors.items() if k.startswith("model.")}
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        raise ReferenceError(f"reference model {path} does not fit its own config: {err}") from err
    labels, plabels = tensors.get("pseudo_labels"), tensors.get("prototype_labels")
    return Reference(path, cfg, head["epoch"], model.to(device).eval(),
                     labels.long() if labels is not None else None,
                     plabels.long() if plabels is not None else None,
                     {"metrics": head["metrics"], "extra": head["extra"], "layout": head["layout"]})


def export_run(run_dir: Union[str, Path], out: Union[str, Path], snapshots: bool = True) -> list[Path]:
    """Copy a finished run's reference files to ``out`` (``NAME.safetensors``) for the repository.

    The final model gets the metrics and per-epoch history of the run's ``result.json``; each
    epoch snapshot (``snapshots/epochNNN.safetensors``) becomes ``NAME-epochNNN.safetensors``
    with the history up to that epoch.  Returns the files written.
    """
    run_dir, out = Path(run_dir), Path(out)
    res_file = run_dir / "result.json"
    if not res_file.is_file():
        raise ReferenceError(f"{run_dir} has no result.json: the run has not finished")
    res = json.loads(res_file.read_text())
    sources = [(run_dir / "model.safetensors", out, None)]
    if snapshots:
        for snap in sorted((run_dir / "snapshots").glob("epoch*.safetensors")):
            sources.append((snap, out.with_name(f"{out.stem}-{snap.stem}{out.suffix}"), int(snap.stem[5:])))
    written = []
    for src, dst, epoch in sources:
        ref = load_reference(src)
        if epoch is not None and epoch == ref.cfg.epochs and epoch == res.get("epochs"):
            continue                                           # the final model already has this epoch
        history = [h for h in res.get("history", []) if epoch is None or h["epoch"] < epoch]
        extra = {**ref.meta.get("extra", {}), "history": history, "source_run": str(run_dir),
                 "command": res.get("command", ""), "commit": res.get("environment", {}).get("git_commit", "")}
        labels = ref.pseudo_labels
        written.append(save_reference(dst, ref.model, ref.cfg, ref.epoch, labels, ref.meta.get("layout", ""),
                                      res.get("metrics") if epoch is None else ref.metrics, extra,
                                      prototype_labels=ref.prototype_labels))
    return written
