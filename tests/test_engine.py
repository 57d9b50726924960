"""End-to-end training on a small synthetic dataset in the generic .npz format:
CLI, results JSON, checkpoint every epoch, resume after an interruption, config mismatch."""

import json

import numpy as np
import pytest
import torch

from himpc import engine
from himpc.cli import main
from himpc.config import make_config
from himpc.data.npz import save_npz
from himpc.data.skeletons import SkeletonSet
from himpc.hierarchy import LEVEL_NAMES
from himpc.layouts import get_layout


def synthetic_walks(path, persons=6, walks=5, frames=60, seed=0):
    """Each person has a body shape (joint offsets) and a gait phase; walks add noise."""
    rng = np.random.default_rng(seed)
    lay = get_layout("kinect-v1-20")
    pos, offs, who = [], [0], []
    for p in range(persons):
        shape = rng.normal(0, 0.3, (20, 3))
        for _ in range(walks):
            t = np.arange(frames)[:, None, None]
            swing = 0.05 * np.sin(0.3 * t + rng.uniform(0, 6)) * rng.normal(1, 0.1, (1, 20, 3))
            w = shape[None] + swing + rng.normal(0, 0.02, (frames, 20, 3)) + rng.normal(0, 1, (1, 1, 3))
            pos.append(w.astype(np.float32))
            offs.append(offs[-1] + frames)
            who.append(f"P{p}")
    ss = SkeletonSet(np.concatenate(pos), np.array(offs), np.array(who), lay,
                     np.array([f"P{i // walks}/{i % walks + 1}" for i in range(len(who))]))
    save_npz(ss, path)
    return path


SMALL = dict(hidden=32, heads=2, batch_size=64, eps=0.6, min_samples=2, k1=6, k2=3, trim=2, threads=1)


@pytest.fixture()
def dataset(tmp_path):
    return f"npz:{synthetic_walks(tmp_path / 'walks.npz')}"


def test_cli_train_writes_results(tmp_path, dataset, capsys):
    out = tmp_path / "run"
    args = ["train", "--dataset", dataset, "--splits", "0,1", "--epochs", "2", "--out", str(out), "--quiet"]
    for k, v in SMALL.items():
        args += ["--set", f"{k}={v}"]
    assert main(args) == 0
    res = json.loads((out / "split1" / "result.json").read_text())
    assert res["config"]["split_seed"] == 1 and res["epochs"] == 2 and len(res["history"]) == 2
    assert set(res["metrics"]) == {"joint", "component", "limb", "msmr", "fused"}
    assert 0 <= res["metrics"]["msmr"]["R1"] <= 100
    assert "no probe/gallery" in res["selection"] and res["environment"]["git_commit"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["runs"] == 2 and "std" in summary["msmr"]["R1"]
    assert "mean ± std over splits [0, 1]" in capsys.readouterr().out


def test_summary_keeps_every_finished_split_of_the_configuration(tmp_path, dataset):
    """A later ``--splits 0`` (a queue's first stage again) must not shrink summary.json to split 0;
    a split folder holding another configuration is not averaged in."""
    out = tmp_path / "run"
    args = ["train", "--dataset", dataset, "--epochs", "1", "--out", str(out), "--quiet"]
    for k, v in SMALL.items():
        args += ["--set", f"{k}={v}"]
    assert main(args + ["--splits", "0,1"]) == 0
    log_before = (out / "split0" / "run.log").read_text()
    assert main(args + ["--splits", "0"]) == 0                  # finished: returns at once
    assert (out / "split0" / "run.log").read_text() == log_before     # and leaves its (committed) log alone
    summary = json.loads((out / "summary.json").read_text())
    assert summary["runs"] == 2 and summary["split_seeds"] == [0, 1]
    other = ["train", "--dataset", dataset, "--epochs", "2", "--out", str(out), "--quiet", "--splits", "2"]
    for k, v in SMALL.items():
        other += ["--set", f"{k}={v}"]
    assert main(other) == 0                                     # another budget in the same folder
    summary = json.loads((out / "summary.json").read_text())
    assert summary["split_seeds"] == [2]


def test_baseline_cli(tmp_path, dataset):
    out = tmp_path / "raw"
    assert main(["baseline", "--method", "raw", "--dataset", dataset, "--out", str(out), "--quiet",
                 "--set", "trim=2"]) == 0
    res = json.loads((out / "split0" / "result.json").read_text())
    assert res["kind"] == "baseline" and res["metrics"]["msmr"]["R1"] > 0


class Interrupt(Exception):
    pass


def test_interrupted_run_resumes_to_the_same_model(tmp_path, dataset, monkeypatch):
    cfg = make_config("hi-mpch", dataset=dataset, epochs=3, **SMALL)
    full = engine.train(cfg, None, tmp_path / "full", progress=False)

    real = engine.Trainer.train_epoch
    def crash_at_epoch_2(self, epoch, labels):
        if epoch == 1:
            raise Interrupt()
        return real(self, epoch, labels)
    monkeypatch.setattr(engine.Trainer, "train_epoch", crash_at_epoch_2)
    with pytest.raises(Interrupt):
        engine.train(cfg, None, tmp_path / "cut", progress=False)
    state = torch.load(tmp_path / "cut" / "checkpoint.pt", weights_only=True)
    assert state["epoch"] == 0                              # epoch 1 was saved before the crash
    monkeypatch.setattr(engine.Trainer, "train_epoch", real)
    resumed = engine.train(cfg, None, tmp_path / "cut", progress=False)
    assert [h["epoch"] for h in resumed["history"]] == [0, 1, 2]
    assert resumed["history"][2]["loss"] == pytest.approx(full["history"][2]["loss"], rel=1e-4)
    assert resumed["metrics"]["msmr"] == full["metrics"]["msmr"]


def test_checkpoint_from_another_config_is_refused(tmp_path, dataset):
    cfg = make_config("hi-mpch", dataset=dataset, epochs=1, **SMALL)
    engine.train(cfg, None, tmp_path / "r", progress=False)
    with pytest.raises(engine.CheckpointMismatch, match="hidden"):
        engine.train(cfg.replace(hidden=16), None, tmp_path / "r", progress=False)
    # more epochs of the same config is a continuation, not a mismatch
    res = engine.train(cfg.replace(epochs=2), None, tmp_path / "r", progress=False)
    assert len(res["history"]) == 2


def test_cosine_schedule_anneals_over_the_budget_and_is_not_stretched_on_resume(tmp_path, dataset):
    cfg = make_config("hi-mpch", dataset=dataset, epochs=4, lr_schedule="cosine", **SMALL)
    assert [engine.learning_rate(cfg, e) for e in range(4)] == pytest.approx(
        [cfg.lr, cfg.lr * 0.5 * (1 + 2 ** -0.5), cfg.lr * 0.5, cfg.lr * 0.5 * (1 - 2 ** -0.5)])
    assert engine.learning_rate(cfg.replace(lr_schedule="constant"), 3) == cfg.lr
    short = cfg.replace(epochs=1)
    engine.train(short, None, tmp_path / "r", progress=False)
    state = torch.load(tmp_path / "r" / "checkpoint.pt", weights_only=True)
    assert state["optimizer"]["param_groups"][0]["lr"] == pytest.approx(cfg.lr)
    with pytest.raises(engine.CheckpointMismatch, match="schedule spans the budget"):
        engine.train(cfg, None, tmp_path / "r", progress=False)
    res = engine.train(cfg, None, tmp_path / "full", progress=False)
    assert len(res["history"]) == 4 and np.isfinite(res["history"][-1]["loss"])


def test_degenerate_clustering_is_logged_not_fatal(tmp_path, dataset, caplog):
    # eps so small that DBSCAN finds no cluster: every level sits out, nothing is trained, no crash
    cfg = make_config("hi-mpch", dataset=dataset, epochs=1, **dict(SMALL, eps=1e-9, min_samples=50))
    with caplog.at_level("WARNING"):
        res = engine.train(cfg, None, tmp_path / "deg", progress=False)
    assert res["history"][0]["train_samples"] == 0
    assert "sits out this epoch" in caplog.text


@pytest.mark.slow
def test_kgbd_smoke_few_persons(tmp_path, kgbd_root):
    cfg = make_config("hi-mpch", max_persons=8, epochs=1, hidden=32, heads=2, threads=1)
    res = engine.train(cfg, kgbd_root, tmp_path / "kg", progress=False)
    assert res["split"]["persons"]["probe"] == 8
    assert res["metrics"]["msmr"]["R1"] > 100 / 8            # better than chance over 8 people


def test_label_agreement_and_the_stopping_rule():
    from himpc.engine import label_agreement
    from himpc.stopping import stopping_epoch
    a = np.array([0, 0, 1, 1, -1, -1, 2, 2])
    assert label_agreement(a, a) == 1.0
    assert label_agreement(a, np.array([5, 5, 7, 7, -1, -1, 9, 9])) == 1.0      # names do not matter
    assert label_agreement(a, np.array([0, 1, 0, 1, 2, -1, 2, -1])) < 0.2
    hist = [{"epoch": e, "label_agreement": {"J": v, "C": 0.95} if e else {}, "test": {"e": e} if e % 2 else None}
            for e, v in enumerate([0.0, 0.5, 0.93, 0.95, 0.99, 0.97])]
    got = stopping_epoch(hist)            # epoch index 2 agrees but is not traced; 3 is traced and agrees
    assert got["epoch"] == 4 and got["triggered"] and got["test"] == {"e": 3}
    assert stopping_epoch(hist, threshold=0.999)["epoch"] == 6 and not stopping_epoch(hist, 0.999)["triggered"]
    assert stopping_epoch([{"epoch": 0, "test": None}]) is None


def test_history_records_label_agreement(tmp_path, dataset):
    from himpc.config import make_config
    from himpc.engine import train
    res = train(make_config("hi-mpch", dataset=dataset, epochs=3, **SMALL), None, tmp_path / "r", progress=False)
    agree = [h["label_agreement"] for h in res["history"]]
    assert agree[0] == {} and all(set(a) == {"J", "C", "L"} and all(-1 <= v <= 1 for v in a.values())
                                  for a in agree[1:])


@pytest.mark.parametrize("level_feature", ["meta", "encoder"])
def test_evaluate_reads_every_level_and_msmr(dataset, level_feature):
    """One pass over the levels (MSMR from their summed squared distances) equals evaluating every
    feature set on its own; with encoder features per level, MSMR still comes from V^l (Eq. 10)."""
    from himpc.metrics import evaluate_features
    from himpc.model import HiMPCModel
    from himpc.splits import build_split

    cfg = make_config("hi-mpch", dataset=dataset, level_feature=level_feature, **SMALL)
    split = build_split(cfg, None)
    torch.manual_seed(0)
    model = engine.build_model(cfg, split.train)
    dev = torch.device("cpu")
    got = engine.evaluate(model, split, cfg, dev)
    xg, xp = engine.level_inputs(split.gallery, cfg.levels), engine.level_inputs(split.probe, cfg.levels)
    pid, gid = split.probe.person, split.gallery.person
    fg, fp = engine.encode(model, xg, dev, level_feature), engine.encode(model, xp, dev, level_feature)
    for lv, name in enumerate(cfg.levels):
        want = evaluate_features(fp[lv].numpy(), fg[lv].numpy(), pid, gid)
        assert got[LEVEL_NAMES[name]] == {k: round(want[k], 3) for k in ("R1", "R5", "R10", "mAP")}
    mg = HiMPCModel.msmr(engine.encode(model, xg, dev, "meta"))
    mp = HiMPCModel.msmr(engine.encode(model, xp, dev, "meta"))
    want = evaluate_features(mp.numpy(), mg.numpy(), pid, gid)
    assert got["msmr"] == pytest.approx({k: round(want[k], 3) for k in ("R1", "R5", "R10", "mAP")}, abs=1e-3)
    unit = lambda f: torch.nn.functional.normalize(f, dim=-1)      # noqa: E731 -- fused: levels unit-normed
    want = evaluate_features(HiMPCModel.msmr(unit(engine.encode(model, xp, dev, "meta"))).numpy(),
                             HiMPCModel.msmr(unit(engine.encode(model, xg, dev, "meta"))).numpy(), pid, gid)
    assert got["fused"] == pytest.approx({k: round(want[k], 3) for k in ("R1", "R5", "R10", "mAP")}, abs=1e-3)
