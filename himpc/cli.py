"""Command line: ``himpc train | eval | baseline | data | rerun | book``.

Every config field can be set with ``--set name=value`` (typed from :class:`Config`);
``--preset`` applies method ablations (``hi-mpch``, ``hi-mpc``, ``mpc``, ``dpc`` ...) and
the ``official-code`` bundle of switches.
"""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import sys
import typing
from pathlib import Path
from typing import Any, Optional, Sequence

from .config import PRESETS, Config, make_config

log = logging.getLogger("himpc")


def _coerce(name: str, raw: str) -> Any:
    hints = typing.get_type_hints(Config)
    if name not in hints:
        raise SystemExit(f"--set: unknown config field {name!r}")
    t = hints[name]
    origin = typing.get_origin(t)
    args = [a for a in typing.get_args(t) if a is not type(None)]
    if origin is typing.Union and args:
        if raw.lower() in ("none", ""):
            return None
        t = args[0]
        origin = typing.get_origin(t)
    if t is bool:
        if raw.lower() not in ("1", "0", "true", "false", "yes", "no"):
            raise SystemExit(f"--set {name}: expected true/false, got {raw!r}")
        return raw.lower() in ("1", "true", "yes")
    if t is int:
        return int(raw)
    if t is float:
        return float(raw)
    if origin is tuple:
        return tuple(v for v in raw.split(",") if v)
    return raw


def _config(args: argparse.Namespace, **extra: Any) -> Config:
    overrides: dict[str, Any] = {}
    for item in args.set or []:
        if "=" not in item:
            raise SystemExit(f"--set expects name=value, got {item!r}")
        k, v = item.split("=", 1)
        overrides[k.strip().replace("-", "_")] = _coerce(k.strip().replace("-", "_"), v.strip())
    for k in ("dataset", "epochs", "seed", "device"):
        if getattr(args, k, None) is not None:
            overrides[k] = getattr(args, k)
    overrides.update(extra)
    return make_config(getattr(args, "preset", None), **overrides)


def _seeds(text: str) -> list[int]:
    out: list[int] = []
    for part in text.split(","):
        if "-" in part:
            a, b = part.split("-")
            out += list(range(int(a), int(b) + 1))
        elif part:
            out.append(int(part))
    return out


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", help="data folder (default: $HIMPC_DATA)")
    p.add_argument("--dataset", help="KGBD | npz:<file> | authors:<NAME>:<probe>")
    p.add_argument("--preset", default="hi-mpch", help=f"comma-separated presets: {', '.join(PRESETS)}")
    p.add_argument("--set", action="append", metavar="NAME=VALUE", help="any Config field, repeatable")
    p.add_argument("--splits", default="0", help="split seeds, e.g. 0,1,2 or 0-4")
    p.add_argument("--out", type=Path, default=Path("runs"), help="output folder")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    _cluster_options(p, "splits run in parallel on a LocalCluster of N workers")
    p.add_argument("--resources", action="append", metavar="NAME=AMOUNT",
                   help="Dask resources each split holds on a cluster, e.g. GPU=1 (repeatable)")


def _cluster_options(p: argparse.ArgumentParser, jobs_help: str) -> None:
    p.add_argument("--jobs", type=int, help=jobs_help)
    p.add_argument("--scheduler", metavar="ADDRESS|FILE",
                   help="run on the Dask cluster at tcp://HOST:PORT (or its --scheduler-file)")


def _split_tasks(args: argparse.Namespace, fn, name: str, **kwargs: Any) -> int:
    """Each split of ``himpc train`` / ``baseline`` as a task on the Dask cluster (or a LocalCluster)."""
    import os
    from .rerun.executor import Task, run_tasks
    data = args.data or os.environ.get("HIMPC_DATA")
    data = str(Path(data).resolve()) if data else None
    command = _command_line()
    resources = dict(_resource(r) for r in args.resources or [])
    out = args.out.resolve()
    tasks = [Task(f"{name} split{s}", fn, (_config(args, split_seed=s), data, out / f"split{s}"),
                  dict(kwargs, command=command), output=out / f"split{s}" / "result.json",
                  resources=resources or None) for s in _seeds(args.splits)]
    done = run_tasks(tasks, args.scheduler, args.jobs or 1, progress=not args.quiet, desc=f"{name} {args.out}")
    failed = [r for r in done if not r.ok]
    for r in failed:
        print(f"FAILED {r.task.name} (on {r.where.get('host', '?')}): {r.error}", file=sys.stderr)
    ok = sorted((r.value for r in done if r.ok), key=lambda res: res["config"]["split_seed"])
    for res in ok:
        log.info("split %d: %s", res["config"]["split_seed"], json.dumps(res["metrics"]))
    code = _summarise(args.out, ok) if ok else 0
    return 1 if failed else code


def _command_line() -> str:
    """This invocation as a shell line, recorded in every result it writes."""
    return " ".join(shlex.quote(a) for a in sys.argv)


def _resource(text: str) -> tuple[str, float]:
    name, _, amount = text.partition("=")
    try:
        return name.strip(), float(amount)
    except ValueError:
        raise SystemExit(f"--resources expects NAME=AMOUNT (e.g. GPU=1), got {text!r}") from None


def _fan_out(args: argparse.Namespace) -> bool:
    return bool(args.scheduler or args.jobs)


def cmd_train(args: argparse.Namespace) -> int:
    from .engine import train
    if _fan_out(args):
        return _split_tasks(args, train, "train", resume=not args.no_resume, progress=False)
    results = []
    for s in _seeds(args.splits):
        cfg = _config(args, split_seed=s)
        out = args.out / f"split{s}"
        res = train(cfg, args.data, out, resume=not args.no_resume, progress=not args.quiet,
                    command=_command_line())
        log.info("split %d: %s", s, json.dumps(res["metrics"]))
        results.append(res)
    return _summarise(args.out, results)


def cmd_baseline(args: argparse.Namespace) -> int:
    from .baseline_eval import run_baseline
    if _fan_out(args):
        return _split_tasks(args, _baseline_task, f"baseline-{args.method}", method=args.method)
    results = []
    for s in _seeds(args.splits):
        cfg = _config(args, split_seed=s)
        res = run_baseline(args.method, cfg, args.data, args.out / f"split{s}",
                           command=_command_line())
        log.info("split %d: %s", s, json.dumps(res["metrics"]))
        results.append(res)
    return _summarise(args.out, results)


def _baseline_task(cfg: Config, data: Optional[str], out: Path, method: str, command: str) -> dict:
    from .baseline_eval import run_baseline
    return run_baseline(method, cfg, data, out, command=command)


def _summarise(out: Path, results: list[dict]) -> int:
    """Write ``out/summary.json`` over every finished split of this configuration in ``out``: the ones
    just run and those an earlier command left there (``--splits 0`` after ``--splits 0,1,2`` keeps all
    three); a split folder holding another configuration is left out of the mean."""
    from .store import group_key
    from .store import aggregate, format_row, load_results, write_json
    keys = {group_key(r) for r in results}
    by_seed = {r["config"]["split_seed"]: r for r in load_results(sorted(Path(out).glob("split*/result.json")))
               if group_key(r) in keys}
    by_seed.update({r["config"]["split_seed"]: r for r in results})
    results = [by_seed[s] for s in sorted(by_seed)]
    agg = aggregate(results)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "summary.json", agg)
    for lv in [k for k in agg if isinstance(agg[k], dict)]:
        print(f"{lv:>10}: {format_row(agg, lv)}   (mean ± std over splits {agg['split_seeds']})")
    return 0


def cmd_summarize(args: argparse.Namespace) -> int:
    """Aggregate split*/result.json found under the given folders (splits run separately)."""
    from .store import load_results
    paths = sorted(p for d in args.runs for p in Path(d).glob("**/split*/result.json"))
    if not paths:
        raise SystemExit(f"no split*/result.json under {', '.join(map(str, args.runs))}")
    from .store import group_key
    results = load_results(paths)
    keys = {group_key(r) for r in results}
    if len(keys) > 1:
        raise SystemExit(f"these runs differ in more than the split seed ({len(keys)} configurations, epoch "
                         "budgets or baselines); refusing to average them")
    return _summarise(args.out, results)


def cmd_eval(args: argparse.Namespace) -> int:
    """Re-evaluate a run folder's checkpoint, or a reference model file (``--model``) on its split."""
    from .engine import evaluate, resolve_device
    from .trained import RunError, load_run
    from .reference import ReferenceError
    target = args.model or args.run
    if target is None:
        raise SystemExit("give a run folder or --model FILE")
    try:
        run = load_run(target, args.data)
    except (RunError, ReferenceError) as err:
        raise SystemExit(str(err)) from None
    metrics = evaluate(run.model, run.split, run.cfg, resolve_device("cpu"))
    out = {"model": str(target), "epoch": run.epoch, "metrics": metrics}
    stored = (run.result or {}).get("metrics")
    if stored:
        out["stored_metrics"] = stored
        out["max_abs_difference"] = round(max(abs(metrics[lv][m] - stored[lv][m]) for lv in metrics
                                              if lv in stored for m in metrics[lv] if m in stored[lv]), 3)
    if args.beyond:                   # re-ranking, cosine, walk-level: rows of their own, never the protocol's
        from .posthoc import beyond_protocol
        from .provenance import environment
        from .store import write_json
        out["beyond_protocol"] = beyond_protocol(run)
        out.update(kind="posthoc", config=run.cfg.to_dict(), environment=environment(),
                   precision=(run.result or {}).get("precision") or run.cfg.precision,   # the training's
                   command=_command_line(),
                   split={k: v for k, v in run.split.info.items() if k != "walk_names"})
        if args.out:
            write_json(args.out, out)
    print(json.dumps({k: out[k] for k in out if k not in ("config", "environment", "split")}, indent=1))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from .reference import ReferenceError, export_run
    try:
        files = export_run(args.run, args.out, snapshots=not args.no_snapshots)
    except ReferenceError as err:
        raise SystemExit(str(err)) from None
    for f in files:
        print(f"{f}  {f.stat().st_size / 1e6:.1f} MB")
    return 0


def cmd_data(args: argparse.Namespace) -> int:
    """``info`` (dataset summary and, with --split-seed / --set, the split train would build),
    ``fetch`` / ``verify`` (KGBD), ``import`` (a folder of per-walk files -> generic .npz)."""
    from . import data as d
    if args.action == "fetch":
        dest = Path(args.data) if args.data else Path("data")
        path = d.fetch_kgbd(dest)
        print(f"KGBD is at {path}")
        return 0
    if args.action == "import":
        return _data_import(args)
    dataset = args.dataset or "KGBD"
    root = None if dataset.startswith("npz:") else d.resolve_data_root(args.data)
    if args.action == "verify":
        ok = d.verify_kgbd_archive(root / "kgbd" / "KGBD.tar.gz")
        print("checksum ok" if ok else "checksum MISMATCH")
        return 0 if ok else 1
    try:
        ss = d.load_dataset(dataset, root)
        print(json.dumps(ss.summary(), indent=1))
        if args.split_seed is not None or args.set:
            from .splits import build_split
            extra = {"seq_len": args.seq_len} | ({} if args.split_seed is None else {"split_seed": args.split_seed})
            cfg = _config(args, **extra)
            info = build_split(cfg, args.data).info
            print(json.dumps({k: v for k, v in info.items() if k != "walk_names"}, indent=1, default=str))
    except d.DataError as err:
        raise SystemExit(str(err)) from None
    return 0


def _data_import(args: argparse.Namespace) -> int:
    from .data import DataError, save_npz
    from .data.columns import ColumnSpec
    from .data.folder import import_folder
    from .data.keypoints import KeypointOptions
    from .layouts import LayoutError, get_layout, layout_from_spec
    if not args.path or not args.pattern or not (args.out or args.inspect):
        raise SystemExit("himpc data import FOLDER --pattern REGEX [--layout NAME | --layout-spec FILE] "
                         "[--columns ...] (--out FILE.npz | --inspect)")
    try:
        layout = (layout_from_spec(Path(args.layout_spec)) if args.layout_spec
                  else get_layout(args.layout) if args.layout else None)
    except (LayoutError, OSError, ValueError) as err:
        raise SystemExit(f"layout spec {args.layout_spec or args.layout}: {err}") from None
    spec = ColumnSpec(columns=args.columns, delimiter=args.delimiter, comment=args.comment,
                      skip_rows=args.skip_rows, dims=args.dims)
    try:
        ss, report = import_folder(args.path, args.pattern, layout, glob=args.glob, min_frames=args.min_frames,
                                   strict=args.strict, progress=not args.quiet and not args.inspect, spec=spec,
                                   fmt=args.format, keypoints=KeypointOptions(min_confidence=args.min_confidence,
                                                                              max_missing=args.max_missing))
    except DataError as err:
        raise SystemExit(str(err)) from None
    if args.inspect:                                # a dry run: what each file holds, nothing written
        print(report.inspection())
        print(report.summary())
        print(f"would write {ss.num_walks} walks of {len(set(ss.person))} persons, {len(ss.positions):,} frames, "
              f"layout {ss.layout.name} x {ss.dims} (--inspect: nothing written)")
        return 0
    out = save_npz(ss, args.out)
    print(report.summary())
    print(f"wrote {out}: {ss.num_walks} walks of {len(set(ss.person))} persons, {len(ss.positions):,} frames, "
          f"layout {ss.layout.name} x {ss.dims}" + "".join(f", {k}: {sorted({str(v) for v in getattr(ss, k)})}"
                                                        for k in ("view", "condition") if getattr(ss, k) is not None))
    print(f"next: himpc data --dataset npz:{Path(out).resolve()} --split-seed 0")
    return 0


def cmd_rerun(args: argparse.Namespace) -> int:
    import os
    from .rerun import report_outcomes, rerun
    if args.data:
        os.environ["HIMPC_DATA"] = str(Path(args.data).resolve())
    outcomes = rerun(args.profile, args.results, jobs=args.jobs or 1, only=args.only, force=args.force,
                     progress=not args.quiet, timeout=args.timeout, scheduler=args.scheduler)
    return report_outcomes(outcomes)


def cmd_book(args: argparse.Namespace) -> int:
    import os
    from .rerun import assemble, build_book, report_outcomes, rerun
    if args.data:
        os.environ["HIMPC_DATA"] = str(Path(args.data).resolve())
    if not args.no_run:           # finished notebooks of the same code version are skipped
        print(f"running the {args.profile!r} profile into {args.results} (finished runs are reused)")
        code = report_outcomes(rerun(args.profile, args.results, jobs=args.jobs or 1, progress=not args.quiet,
                                     scheduler=args.scheduler))
        if code:
            return code
    missing = assemble(args.results)
    if missing:
        print(f"himpc: error: no successful execution of {missing} under {args.results}; "
              f"run `himpc rerun --profile {args.profile} --results {args.results}`", file=sys.stderr)
        return 1
    return build_book(strict=not args.lenient)


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="himpc", description="Hi-MPC: unsupervised skeleton person re-ID")
    ap.add_argument("-v", "--verbose", action="store_true")
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("train", help="train and evaluate over one or more random splits")
    _common(p)
    p.add_argument("--epochs", type=int)
    p.add_argument("--seed", type=int)
    p.add_argument("--device", help="auto | cpu | cuda")
    p.add_argument("--no-resume", action="store_true", help="start over even if a checkpoint exists")
    p.set_defaults(func=cmd_train)
    p = sub.add_parser("baseline", help="raw clip distance, D13 or D16 on the same splits")
    _common(p)
    p.add_argument("--method", choices=("raw", "d13", "d16"), default="raw")
    p.set_defaults(func=cmd_baseline)
    p = sub.add_parser("summarize", help="mean ± std over split*/result.json under the given folders")
    p.add_argument("runs", nargs="+", type=Path)
    p.add_argument("--out", type=Path, required=True)
    p.set_defaults(func=cmd_summarize)
    p = sub.add_parser("eval", help="re-evaluate a trained run folder or a reference model file")
    p.add_argument("run", type=Path, nargs="?", help="run folder (checkpoint.pt or model.safetensors)")
    p.add_argument("--model", type=Path, help="a reference model file (models/*.safetensors)")
    p.add_argument("--beyond", action="store_true", help="also cosine, k-reciprocal re-ranking (transductive) "
                   "and walk-level retrieval, each labelled (himpc.posthoc)")
    p.add_argument("--out", type=Path, help="with --beyond: write everything to this JSON file")
    p.add_argument("--data")
    p.set_defaults(func=cmd_eval)
    p = sub.add_parser("export", help="copy a finished run's model (and epoch snapshots) as reference files")
    p.add_argument("run", type=Path, help="run folder with result.json and model.safetensors")
    p.add_argument("--out", type=Path, required=True, help="models/NAME.safetensors")
    p.add_argument("--no-snapshots", action="store_true")
    p.set_defaults(func=cmd_export)
    p = sub.add_parser("data", help="inspect a dataset, verify or fetch KGBD")
    p.add_argument("action", nargs="?", choices=("info", "fetch", "verify", "import"), default="info")
    p.add_argument("path", nargs="?", help="import: the folder of per-walk files")
    p.add_argument("--data")
    p.add_argument("--dataset")
    p.add_argument("--split-seed", type=int)
    p.add_argument("--seq-len", type=int, default=6)
    p.add_argument("--set", action="append", metavar="NAME=VALUE",
                   help="any Config field (protocol, by_field, probe_values ...): prints that split's counts")
    p.add_argument("--pattern", help="import: regex with named groups person (required), view, condition")
    p.add_argument("--layout", help="import: a known layout (kinect-v1-20, kinect-v1-20-sdk, kinect-v2-25, coco-14, "
                   "openpose-body25, openpose-coco18, coco-17); default: found from a named header or the "
                   "keypoint count")
    p.add_argument("--layout-spec", help="import: a JSON layout spec file (custom joints and groups)")
    p.add_argument("--out", help="import: the .npz to write")
    p.add_argument("--glob", default="**/*", help="import: which files under the folder")
    p.add_argument("--min-frames", type=int, default=26, help="import: shorter walks are skipped")
    p.add_argument("--strict", action="store_true",
                   help="import: all or nothing: any faulty walk (each one listed) and nothing is written")
    p.add_argument("--format", default="table", choices=("table", "openpose", "coco17"),
                   help="import: delimited text (table), OpenPose per-frame JSON folders, COCO-17 keypoint JSON")
    p.add_argument("--columns", default="auto",
                   help="import: the joint columns: auto (named header or all numeric cells), index ranges "
                        "0:54 / 2:56,60:63, header names A_X,A_Y,..., or re:REGEX over the header")
    p.add_argument("--delimiter", default="auto", help="import: auto | comma | semicolon | tab | whitespace | a character")
    p.add_argument("--comment", default="#", help="import: rows starting with this are skipped")
    p.add_argument("--skip-rows", type=int, default=0, help="import: rows skipped at the top (a title block)")
    p.add_argument("--dims", type=int, choices=(2, 3), help="import: coordinates per joint (default 3, or the header's)")
    p.add_argument("--min-confidence", type=float, default=0.1, help="import (2D): keypoints below are missing")
    p.add_argument("--max-missing", type=float, default=0.5,
                   help="import (2D): frames missing more than this fraction of joints are dropped")
    p.add_argument("--inspect", action="store_true",
                   help="import: a dry run: print what each file holds and what would be written; write nothing")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_data)
    p = sub.add_parser("rerun", help="execute the book's notebooks with papermill for a profile or YAML grid")
    p.add_argument("--profile", default="reference", help="reference | smoke | paper | <grid.yaml>")
    p.add_argument("--results", type=Path, default=Path("results/book"), help="results folder")
    _cluster_options(p, "notebooks executed in parallel (a LocalCluster of N workers; default 1)")
    p.add_argument("--only", nargs="+", metavar="NOTEBOOK", help="only these notebooks (names without .ipynb)")
    p.add_argument("--force", action="store_true", help="re-execute even when a result exists for this code")
    p.add_argument("--timeout", type=int, help="seconds per cell (default: none)")
    p.add_argument("--data", help="data folder (default: $HIMPC_DATA)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_rerun)
    p = sub.add_parser("book", help="run the profile's notebooks that are not done yet (reference by default: no training), then build the HTML book")
    p.add_argument("--results", type=Path, default=Path("results/book"), help="results folder of `himpc rerun`")
    p.add_argument("--profile", default="reference", help="profile whose notebooks the book shows")
    _cluster_options(p, "notebooks executed in parallel (a LocalCluster of N workers; default 1)")
    p.add_argument("--no-run", action="store_true", help="never run notebooks, only build")
    p.add_argument("--lenient", action="store_true", help="do not fail on warnings that hide broken content")
    p.add_argument("--data", help="data folder (default: $HIMPC_DATA)")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_book)
    return ap


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("\nhimpc: interrupted; the same command picks up where it stopped (finished work is kept)",
              file=sys.stderr)
        return 130
    except Exception as err:  # noqa: BLE001 - one clear line for the user, details with -v
        from .data.skeletons import DataError
        from .rerun.executor import ExecutorError
        if isinstance(err, (DataError, ValueError, FileNotFoundError, ExecutorError)) and not args.verbose:
            print(f"himpc: error: {err}", file=sys.stderr)
            return 2
        raise


if __name__ == "__main__":
    sys.exit(main())
