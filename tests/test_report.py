"""Paper rows are matched to measured runs by configuration; groups never mix configurations."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from himpc import report, store
from himpc.report.table import fmt
from himpc.config import make_config


def _result(folder: Path, preset: str | None, split: int, r1: float, epochs: int = 5, baseline: str = "",
            **over) -> None:
    over.setdefault("precision", "fp32")
    cfg = make_config(preset, split_seed=split, epochs=epochs, **over)
    res = {"kind": "baseline" if baseline else "train", "config": cfg.to_dict(), "epochs": epochs,
           "precision": cfg.precision,
           "metrics": {"msmr": {"R1": r1, "R5": r1 + 10, "R10": r1 + 20, "mAP": r1 / 10}},
           "command": f"himpc train --preset {preset}", "seconds_total": 1.0,
           "environment": {"cpu_threads": 2, "git_commit": "0123456789abcdef"}}
    if baseline:
        res["baseline"] = baseline
        res.pop("epochs")
    (folder / f"split{split}").mkdir(parents=True)
    (folder / f"split{split}" / "result.json").write_text(json.dumps(res))


def test_scale_fields_match_only_named_scales():
    row = make_config("hi-mpch")
    smoke = make_config("hi-mpch", hidden=32, heads=2, max_persons=4)
    assert report.config_matches(row.replace(epochs=3, split_seed=2), row)
    assert not report.config_matches(smoke, row)
    assert report.config_matches(smoke, row, scales=[{"hidden": 32, "heads": 2, "max_persons": 4}])
    assert not report.config_matches(make_config("hi-mpc"), row, scales=[{"hidden": 32}])
    # eps None means the dataset's value: 0.6 on KGBD is the same run
    assert report.config_matches(make_config("hi-mpch", eps=0.6), row)
    assert not report.config_matches(make_config("hi-mpch", eps=0.8), row)
    assert not report.config_matches(make_config("hi-mpch", heads=4), row)


def test_smoke_means_cut_down_for_the_row_it_is_reported_for(tmp_path):
    root = tmp_path / "results"
    _result(root / "smoke", "hi-mpch", 0, 20.0, hidden=32, heads=4, max_persons=6)
    scale = {"hidden": 32, "heads": 4, "max_persons": 6}
    for table, label in ((8, "heads = 4"), (6, "+ Hi + MPC + HSM")):
        row = next(r for r in report.comparison_rows(table, "KGBD", [root], ["R1"], scales=[scale])
                   if r["label"] == label and r["source"] == "ours")
        assert row["R1"]["mean"] == pytest.approx(20.0)
        want = "SMOKE (h 32, first 6 persons)" if table == 8 else "SMOKE (h 32, M 4, first 6 persons)"
        assert row["scope"] == want, table                # M = 4 is Table 8's own value, not a cut
    assert store.scope_of({"hidden": 64, "heads": 16}) == "full data"      # the paper's grid
    assert store.scope_of({"hidden": 32, "heads": 2}) == "SMOKE (h 32, M 2)"


def test_group_key_separates_budget_and_selection():
    base = {"kind": "train", "config": make_config("hi-mpch", epochs=5).to_dict()}
    other_split = {"kind": "train", "config": make_config("hi-mpch", epochs=5, split_seed=3).to_dict()}
    longer = {"kind": "train", "config": make_config("hi-mpch", epochs=8).to_dict()}
    oracle = {"kind": "train", "config": make_config("hi-mpch", epochs=5, selection="oracle-test").to_dict()}
    assert report.group_key(base) == report.group_key(other_split)
    assert len({report.group_key(r) for r in (base, longer, oracle)}) == 3


def test_comparison_rows_find_runs_by_config_anywhere(tmp_path):
    root = tmp_path / "results"
    for s, r1 in enumerate((50.0, 52.0, 54.0)):
        _result(root / "any-folder-name", "hi-mpch", s, r1, epochs=20)
    _result(root / "hi-mpch", "hi-mpch", 0, 40.0, epochs=5)
    _result(root / "heads-sweep", "hi-mpch", 0, 30.0, heads=4)          # Table 8 row, not Table 3's
    _result(root / "raw", None, 0, 45.0, baseline="raw")
    rows = report.comparison_rows(3, "KGBD", [root], ["R1", "mAP"])
    ours = [r for r in rows if r["label"] == "Hi-MPCh" and r["source"] == "ours"]
    assert [r["epochs"] for r in ours] == [20, 5]
    assert ours[0]["R1"]["mean"] == pytest.approx(52.0) and ours[0]["R1"]["std"] == pytest.approx(2.0)
    assert ours[0]["splits"] == [0, 1, 2]
    rows8 = report.comparison_rows(8, "KGBD", [root], ["R1"])
    m4 = [r for r in rows8 if r["label"] == "heads = 4" and r["source"] == "ours"]
    assert m4[0]["R1"]["mean"] == pytest.approx(30.0)
    assert m4[0]["scope"] == "full data"            # a swept size is a full run of that size, not SMOKE
    m8 = [r for r in rows8 if r["label"] == "heads = 8" and r["source"] == "ours"]
    assert {r["epochs"] for r in m8} == {20, 5}                        # heads 8 is the default run
    rows6 = report.comparison_rows(6, "KGBD", [root], ["R1"])
    raw = [r for r in rows6 if r["source"] == "ours" and r["label"].startswith("Baseline")]
    assert raw[0]["R1"]["mean"] == pytest.approx(45.0)
    dpc = [r for r in rows6 if r["source"] == "ours" and r["label"] == "+ DPC"]
    assert dpc[0]["scope"] == report.NOT_MEASURED
    assert dpc[0]["to_measure"].startswith("himpc train --preset dpc --splits 0,1,2 --epochs 40")
    assert [r["series"] for r in ours] == ["ours (20 epochs, 3 splits)", "ours (5 epochs, split 0)"]
    # every (series, method) pair once: a bar chart never stacks two rows on one category
    pairs = [(r["series"], r["label"]) for r in rows]
    assert len(pairs) == len(set(pairs))
    assert "SGELA (supervised fine-tuning)" in {r["label"] for r in rows}
    text = report.summary_sentences(rows)
    assert "Hi-MPCh, 20 epochs, 3 splits: R1 52.0 ± 2.0 against 56.9 quoted (-4.9)" in text
    html = report.comparison_table(rows, ["R1", "mAP"])._repr_html_()
    assert html.count("<tr>") == len(rows) + 1 and "|" not in html


def test_summarize_refuses_mixed_budgets(tmp_path):
    from himpc.cli import main
    _result(tmp_path / "a", "hi-mpch", 0, 50.0, epochs=5)
    _result(tmp_path / "b", "hi-mpch", 1, 50.0, epochs=8)
    with pytest.raises(SystemExit, match="differ in more than the split seed"):
        main(["summarize", str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(tmp_path / "sum")])


def test_scale_is_matched_as_a_whole_and_set_fields_exactly():
    smoke = {"hidden": 32, "heads": 2, "max_persons": 4}
    default_row = make_config("hi-mpch")
    mixed = make_config("hi-mpch", hidden=32, max_persons=4)             # M 8 with smoke's h: neither scale
    assert not report.config_matches(mixed, default_row, scales=[smoke])
    heads1_row = make_config("hi-mpch", heads=1)
    assert not report.config_matches(make_config("hi-mpch", **smoke), heads1_row, scales=[smoke], fixed=["heads"])
    assert report.config_matches(make_config("hi-mpch", hidden=32, heads=1, max_persons=4), heads1_row,
                                 scales=[smoke], fixed=["heads"])


def test_group_key_treats_default_eps_as_its_value():
    a = {"kind": "train", "config": make_config("hi-mpch", epochs=5).to_dict()}
    b = {"kind": "train", "config": make_config("hi-mpch", epochs=5, eps=0.6, min_samples=4).to_dict()}
    assert report.group_key(a) == report.group_key(b)


def test_finished_runs_elsewhere_are_reused(tmp_path):
    from himpc.report.experiments import find_finished
    _result(tmp_path / "committed" / "hi-mpch-e20", "hi-mpch", 1, 50.0, epochs=20)
    like = {"kind": "train", "config": make_config("hi-mpch", split_seed=1, epochs=20, threads=2).to_dict()}
    assert find_finished(like, [tmp_path / "committed"]) is not None
    other_budget = {"kind": "train", "config": make_config("hi-mpch", split_seed=1, epochs=8).to_dict()}
    other_split = {"kind": "train", "config": make_config("hi-mpch", split_seed=0, epochs=20).to_dict()}
    assert find_finished(other_budget, [tmp_path / "committed"]) is None
    assert find_finished(other_split, [tmp_path / "committed"]) is None


def test_beyond_rows_variants_at_the_budget_and_posthoc_means(tmp_path):
    from himpc.posthoc import EVALUATIONS
    _result(tmp_path / "hi-mpch", "hi-mpch", 0, 50.0, epochs=40)
    _result(tmp_path / "hi-mpch-e5", "hi-mpch", 0, 40.0, epochs=5)
    _result(tmp_path / "mem", "hi-mpch", 0, 52.0, epochs=40, memory_momentum=0.2)
    for s, (cos, rr) in enumerate([(4.0, 6.0), (5.0, 8.0)]):
        cfg = make_config("hi-mpch", split_seed=s, epochs=40)
        m = lambda v: {"R1": 10 * v, "R5": 0.0, "R10": 0.0, "mAP": v}   # noqa: E731
        out = {"kind": "posthoc", "epoch": 40, "config": cfg.to_dict(), "beyond_protocol": {
            EVALUATIONS["cosine"]: {"metrics": m(cos)}, EVALUATIONS["rerank"]: {"metrics": m(rr)},
            EVALUATIONS["walk"]: {"metrics": m(60.0)}}}
        (tmp_path / "beyond").mkdir(exist_ok=True)
        (tmp_path / "beyond" / f"s{s}.json").write_text(json.dumps(out))
    rows = report.beyond_rows([tmp_path], ["R1", "mAP"], budget={"splits": [0, 1, 2], "epochs": 40})
    by = {r["label"]: r for r in rows}
    assert by["Hi-MPCh (the paper's method)"]["epochs"] == 40            # the 5-epoch run is not the budget
    assert by["+ cluster memory, momentum 0.2 (Cluster Contrast)"]["R1"]["mean"] == 52.0
    assert by["root-facing normalisation"]["scope"] == report.NOT_MEASURED
    rr = by[EVALUATIONS["rerank"]]
    assert rr["splits"] == [0, 1] and rr["mAP"]["mean"] == 7.0 and rr["mAP"]["std"] > 1
    text = report.beyond_sentences(rows)
    assert "R1 52.0, mAP 5.2, against Hi-MPCh's 50.0 / 5.0 on the same splits and budget" in text
    assert "moves mAP from 4.5 ± 0.7 to 7.0 ± 1.4" in text and "2 of the 3 training variants" in text
    table = report.comparison_table(rows, ["R1", "mAP"])
    assert len(table.rows) == len(rows) == 4 + 3


def test_posthoc_rows_keep_a_bf16_model_apart(tmp_path):
    """Evaluations of a bf16-trained model are their own row, labelled bf16, never averaged with fp32's."""
    from himpc.posthoc import EVALUATIONS
    (tmp_path / "beyond").mkdir()
    for name, prec, s, v in [("a", "fp32", 0, 4.0), ("b", "bf16", 0, 6.0), ("c", "bf16", 1, 8.0)]:
        cfg = make_config("hi-mpch", split_seed=s, epochs=40, precision=prec)
        out = {"kind": "posthoc", "epoch": 40, "config": cfg.to_dict(), "precision": prec,
               "beyond_protocol": {EVALUATIONS["rerank"]: {"metrics": {"R1": 10 * v, "mAP": v}}}}
        (tmp_path / "beyond" / f"{name}.json").write_text(json.dumps(out))
    rows = {r["series"].split(",")[1].strip() + "/" + str(r.get("precision")): r
            for r in report.posthoc_rows([tmp_path], ["R1", "mAP"])}
    assert set(rows) == {"split 0/fp32", "2 splits/bf16"}
    assert "bf16" in rows["2 splits/bf16"]["series"] and "bf16" not in rows["split 0/fp32"]["series"]
    assert rows["2 splits/bf16"]["mAP"]["mean"] == 7.0 and rows["split 0/fp32"]["mAP"]["mean"] == 4.0


def test_beyond_rows_two_budgets_and_a_variant_on_fewer_splits(tmp_path):
    """The headline budget shows Hi-MPCh (and its stopping rule); variants sit beside Hi-MPCh at the
    ablation budget, compared on the splits they were measured on."""
    _result(tmp_path / "e40", "hi-mpch", 0, 58.0, epochs=40)
    for s, r1 in enumerate([50.0, 54.0, 46.0]):
        _result(tmp_path / "e20", "hi-mpch", s, r1, epochs=20)
    _result(tmp_path / "walk", "hi-mpch", 0, 53.0, epochs=20, pseudo_labels="walk")
    rows = report.beyond_rows([tmp_path], ["R1", "mAP"], budget={"splits": [0, 1, 2], "epochs": 20},
                              headline={"splits": [0, 1, 2], "epochs": 40})
    base = [r for r in rows if r["label"] == "Hi-MPCh (the paper's method)"]
    assert [(r["epochs"], r["splits"]) for r in base] == [(40, [0]), (20, [0, 1, 2])]
    missing = [r for r in rows if r["label"] == "root-facing normalisation"]
    assert "--epochs 20" in missing[0]["to_measure"]
    text = report.beyond_sentences(rows)
    assert "R1 53.0, mAP 5.3, against Hi-MPCh's 50.0 / 5.0 on the same splits and budget" in text


def test_stopping_rule_row_reads_the_trace_at_the_chosen_epoch(tmp_path):
    for s, agree in enumerate([[0.5, 0.95, 0.97, 0.99], [0.5, 0.6, 0.7, 0.8]]):
        _result(tmp_path / "hi-mpch", "hi-mpch", s, 50.0, epochs=4)
        f = tmp_path / "hi-mpch" / f"split{s}" / "result.json"
        res = json.loads(f.read_text())
        res["history"] = [{"epoch": e, "label_agreement": {"J": a, "C": a, "L": a} if e else {},
                           "test": {"msmr": {"R1": 40.0 + e + s, "R5": 0, "R10": 0, "mAP": 4.0}} if e % 2 else None}
                          for e, a in enumerate(agree)]
        f.write_text(json.dumps(res))
        if s == 0:      # a bf16 rerun of split 0: its own Hi-MPCh row, but the rule reads the headline's runs only
            res["precision"] = res["config"]["precision"] = "bf16"
            (tmp_path / "bf16" / "split0").mkdir(parents=True)
            (tmp_path / "bf16" / "split0" / "result.json").write_text(json.dumps(res))
    rows = report.beyond_rows([tmp_path], ["R1", "mAP"], budget={"epochs": 4})
    assert [r["series"] for r in rows if r["label"] == "Hi-MPCh (the paper's method)"] == \
        ["ours (4 epochs, 2 splits)", "ours (4 epochs, split 0, bf16)"]
    (stop,) = [r for r in rows if r["label"] == report.STOPPED]
    assert stop["stopped_at"] == [2, 4] and stop["R1"]["mean"] == (41.0 + 44.0) / 2
    assert "epochs chosen: 2, 4 (rule not met: last)" in stop["series"]
    assert "picked epoch 2, 4 (not met: last) of 4; read there, R1 42.5 ± 2.1" in report.beyond_sentences(rows)
    (best,) = [r for r in rows if r["label"] == report.SELECTED_ON_TEST]   # R1 peaks at epoch 4 (index 3) on both
    assert best["stopped_at"] == [4, 4] and best["R1"]["mean"] == (43.0 + 44.0) / 2
    assert "picks the last epoch on every split: the trace peaks at the end of the budget, so at this budget " \
        "test-set selection adds nothing" in report.beyond_sentences(rows)
    best["stopped_at"] = [2, 4]                  # had one split peaked earlier: what selection would add
    assert "would report R1 43.5 ± 0.7 and mAP 4.0 instead of 50.0 / 5.0" in report.beyond_sentences(rows)
    stop["triggered"] = [False, False]
    assert "was not met within the 4-epoch budget on any of the 2 splits" in report.beyond_sentences(rows)


def test_best_traced_epoch_is_the_test_rank1_maximum_not_the_last():
    hist = [{"epoch": e, "test": {"msmr": {"R1": r1, "mAP": 1.0}} if r1 else None}
            for e, r1 in enumerate([None, 50.0, None, 53.0, None, 52.0])]
    assert report.best_traced_epoch(hist)["epoch"] == 4        # 1-based, the peak, not the last traced
    assert report.best_traced_epoch([{"epoch": 0, "test": None}]) is None


def test_best_traced_epoch_stops_when_the_authors_patience_runs_out():
    """Hi-MPC.py L915-916: no better test Rank-1 for `patience` epochs ends the training; a later
    peak is never seen."""
    r1 = {4: 50.0, 9: 55.0, 14: 54.0, 19: 53.0, 24: 60.0}          # 0-based traced epochs
    hist = [{"epoch": e, "test": {"msmr": {"R1": v, "mAP": 1.0}}} for e, v in r1.items()]
    assert report.best_traced_epoch(hist, patience=50)["epoch"] == 25          # not stopped: the peak
    picked = report.best_traced_epoch(hist, patience=10)                       # stops after epoch 20
    assert picked["epoch"] == 10 and picked["stopped_at"] == 20


def test_a_sweep_on_one_split_is_charted_beside_the_default_on_that_split(tmp_path):
    """Table 8 with the default measured on 3 splits and a swept value on split 0: the table adds the
    default read on split 0 alone, and the chart compares both on split 0."""
    for s, r1 in enumerate((50.0, 52.0, 54.0)):
        _result(tmp_path / "default", "hi-mpch", s, r1, epochs=20)
    _result(tmp_path / "heads4", "hi-mpch", 0, 30.0, epochs=20, heads=4)
    rows = report.comparison_rows(8, "KGBD", [tmp_path], ["R1"])
    m8 = [r for r in rows if r["label"] == "heads = 8" and r["source"] == "ours"]
    assert [(r["splits"], r["R1"]["mean"]) for r in m8] == [([0, 1, 2], 52.0), ([0], 50.0)]
    assert m8[1]["series"] == "ours (20 epochs, split 0; of the 3-split run)"
    charted = {r["label"]: r for r in report.chart_rows(rows) if r["series"] == "ours (measured)"}
    assert charted["heads = 8"]["splits"] == [0] and charted["heads = 4"]["splits"] == [0]


def test_bf16_sweeps_are_charted_beside_the_default_in_bf16(tmp_path):
    """Swept values run in bf16 on split 0; the default has an fp32 3-split run (read on split 0 too)
    and a bf16 split-0 run: the bar beside the sweeps is the bf16 one."""
    for s, r1 in enumerate((50.0, 52.0, 54.0)):
        _result(tmp_path / "default", "hi-mpch", s, r1, epochs=20)
    _result(tmp_path / "default-bf16", "hi-mpch", 0, 51.0, epochs=20, precision="bf16")
    for m, r1 in ((1, 30.0), (4, 40.0), (16, 45.0)):
        _result(tmp_path / f"heads{m}", "hi-mpch", 0, r1, epochs=20, heads=m, precision="bf16")
    rows = report.comparison_rows(8, "KGBD", [tmp_path], ["R1"])
    charted = {r["label"]: r for r in report.chart_rows(rows) if r["series"] == "ours (measured)"}
    assert charted["heads = 8"]["R1"]["mean"] == 51.0 and charted["heads = 8"]["precision"] == "bf16"
    assert {charted[f"heads = {m}"]["precision"] for m in (1, 4, 16)} == {"bf16"}


def test_a_paper_row_names_its_own_variants(tmp_path):
    """Table 6's DPC row carries a variant in paper_results.yaml (the temperature matched to the
    heads' scale): a run with that setting is shown beside DPC as its own labelled row."""
    _result(tmp_path / "dpc", "dpc", 0, 21.0, epochs=20)
    _result(tmp_path / "dpc-tau", "dpc", 0, 49.0, epochs=20, tau=0.0625)
    rows = report.comparison_rows(6, "KGBD", [tmp_path], ["R1"])
    dpc = [r for r in rows if r["label"] == "+ DPC" and r["source"] == "ours"]
    assert [r["R1"]["mean"] for r in dpc] == [21.0, 49.0]
    assert "temperature 1/sqrt(h)" in dpc[1]["series"] and "temperature" not in dpc[0]["series"]
    mpc = [r for r in rows if r["label"] == "+ MPC" and r["source"] == "ours"]
    assert all("temperature" not in r["series"] for r in mpc)        # a row's variant stays on its row


def test_a_bf16_run_is_its_own_labelled_row_of_the_same_paper_row(tmp_path):
    """precision is free when matching a paper row (a bf16 run measures it) but never averaged with
    fp32 runs; the row says bf16, and a bf16 request that ran in fp32 (no bf16 unit) counts as fp32."""
    root = tmp_path / "results"
    for s in (0, 1):
        _result(root / "fp32", "hi-mpch", s, 50.0 + s, epochs=20)
    _result(root / "bf16", "hi-mpch", 0, 60.0, epochs=20, precision="bf16")
    for f in (root / "bf16").glob("split*/result.json"):
        f.write_text(json.dumps({**json.loads(f.read_text()), "precision": "bf16"}))
    _result(root / "fell-back", "hi-mpch", 2, 52.0, epochs=20, precision="bf16")
    for f in (root / "fell-back").glob("split*/result.json"):
        f.write_text(json.dumps({**json.loads(f.read_text()), "precision": "fp32"}))
    ours = [r for r in report.comparison_rows(3, "KGBD", [root], ["R1"]) if r["label"] == "Hi-MPCh"
            and r["source"] == "ours" and "subset_of" not in r]      # (+ split 0 of the fp32 run, like with like)
    assert [(r["splits"], r["precision"]) for r in ours] == [([0, 1, 2], "fp32"), ([0], "bf16")]
    assert ours[1]["series"] == "ours (20 epochs, split 0, bf16)" and ours[1]["R1"]["mean"] == 60.0
    assert ours[0]["R1"]["mean"] == pytest.approx(51.0)


def test_duplicate_split_keeps_the_run_that_finished_last_whatever_the_file_times(tmp_path):
    import os
    root = tmp_path / "results"
    _result(root / "old", "hi-mpch", 0, 40.0, epochs=20)
    _result(root / "new", "hi-mpch", 0, 60.0, epochs=20)
    _result(root / "new", "hi-mpch", 1, 62.0, epochs=20)
    (root / "old" / "split0" / "run.log").write_text("2026-11-20 10:00:00,000 himpc.engine INFO epoch 20: ...\n"
                                                     "2026-11-28 10:00:00,000 himpc.engine INFO (a later note)\n")
    (root / "new" / "split0" / "run.log").write_text("2026-11-24 10:00:00,000 himpc.engine INFO epoch 20: ...\n")
    os.utime(root / "old" / "split0" / "result.json", (2e9, 2e9))          # a fresh checkout's file times
    [m] = report.collect(root)
    assert m.splits == [0, 1] and m.value("msmr", "R1")["mean"] == pytest.approx(61.0)
    assert "duplicate split seeds" in m.notes[0]


def test_table_numbers_break_only_before_their_spread():
    html = report.Table(["method", "R1", "splits"], [["Hi-MPCh (the paper's method)", "52.1 ± 1.8", "0,1,2"],
                                                    ["not measured", "—", "—"]])._repr_html_()
    assert '<td class="num"><span class="nw">52.1</span> <span class="nw">± 1.8</span></td>' in html
    assert "<td>Hi-MPCh (the paper&#x27;s method)</td>" in html and html.count('class="num"') == 4


def test_overview_lists_every_run_narrowly(tmp_path):
    root = tmp_path / "results"
    _result(root / "e20" / "mpc-hsm", "mpc-hsm", 1, 49.5, epochs=20, precision="bf16")
    _result(root / "raw", None, 0, 45.0, baseline="raw")
    _result(root / "e20" / "avx2", "hi-mpch", 0, 50.0, epochs=20, precision="bf16")
    f = root / "e20" / "avx2" / "split0" / "result.json"    # asked bf16, ran fp32 on an AVX2 CPU
    res = json.loads(f.read_text())
    res["precision"], res["environment"]["cpu_capability"] = "fp32", "AVX2"
    f.write_text(json.dumps(res))
    text = report.overview_markdown([root])
    assert text.splitlines()[0] == "| run | split | epochs | MSMR R1 | mAP | time | ran on | commit |"
    assert "| e20/mpc-hsm | 1 | 20 | 49.5 | 5.0 | 1 s | CPU\u00a0×2, bf16 |" in text   # 1 decimal; device unbroken
    assert "| raw | 0 | — | 45.0 | 4.5 | 1 s | CPU\u00a0×2 | 0123456 |" in text and "3 result files" in text
    assert "| e20/avx2 | 0 | 20 | 50.0 | 5.0 | 1 s | CPU\u00a0×2 AVX2, fp32 (bf16 emulated there) |" in text


def test_side_by_side_reads_every_variant_in_one_precision(tmp_path):
    root = tmp_path / "results"
    _result(root / "a-bf16", "hi-mpch", 0, 60.0, epochs=20, precision="bf16")     # sorts first
    _result(root / "b-fp32", "hi-mpch", 0, 50.0, epochs=20)
    _result(root / "c-head", "hi-mpch", 0, 45.0, epochs=20, root_joint="joint0")
    variants = {"default": {"preset": "hi-mpch"}, "head": {"preset": "hi-mpch", "set": {"root_joint": "joint0"}}}
    rows = report.side_by_side(variants, [root], split=0, epochs=20)
    assert [(r["label"], r["R1"], r["precision"]) for r in rows] == [("default", 50.0, "fp32"), ("head", 45.0, "fp32")]
    rows = report.side_by_side(variants, [root], split=0, epochs=20, precision="bf16")
    assert rows[0]["R1"] == 60.0 and not rows[1]["measured"] and "precision=bf16" in rows[1]["to_measure"]
    assert "20 epochs, bf16" in report.side_by_side_table(rows).rows[0]


def test_budget_curve_means_the_epochs_every_split_traced_and_says_the_gap(tmp_path):
    for s in (0, 1):
        _result(tmp_path / "hi-mpch", "hi-mpch", s, 50.0, epochs=20)
        f = tmp_path / "hi-mpch" / f"split{s}" / "result.json"
        res = json.loads(f.read_text())
        traced = (4, 9, 14, 19) if s == 0 else (9, 14, 19)           # split 1 missed epoch 5
        res["history"] = [{"epoch": e, "test": {"msmr": {"R1": 40.0 + e + s, "mAP": 4.0 + e / 10}}
                           if e in traced else None} for e in range(20)]
        f.write_text(json.dumps(res))
    (row,) = [r for r in report.beyond_rows([tmp_path], ["R1", "mAP"], budget={"epochs": 20})
              if r["label"] == next(iter(report.BEYOND))]
    curves = report.budget_curve(row)
    assert list(curves) == ["split 0", "split 1", "mean over splits"]
    assert [e for e, _, _ in curves["mean over splits"]] == [10, 15, 20]
    assert curves["mean over splits"][-1] == pytest.approx((20, 59.5, 5.9))
    txt = report.budget_sentence(curves, {"R1": 60.0, "mAP": 10.2})
    assert "From epoch 10 to 20 the mean trace still gains +10.0 Rank-1 and +1.0 mAP" in txt
    assert "still R1 0.5 and mAP 4.3 higher" in txt


def test_a_run_past_the_budget_continues_the_curve_and_says_where_it_ends(tmp_path):
    for folder, epochs, splits in (("e4", 4, (0, 1)), ("e8", 8, (0,))):
        for s in splits:
            _result(tmp_path / folder, "hi-mpch", s, 50.0, epochs=epochs)
            f = tmp_path / folder / f"split{s}" / "result.json"
            res = json.loads(f.read_text())
            r1 = (40, 45, 50, 48, 52, 55, 58, 57)[:epochs]          # peaks at epoch 7, then 57 at 8
            res["history"] = [{"epoch": e, "test": {"msmr": {"R1": float(r1[e]), "mAP": 4.0 + e}}} for e in range(epochs)]
            f.write_text(json.dumps(res))
    rows = report.comparison_rows(3, "KGBD", [tmp_path], ["R1", "mAP"])
    curves = report.past_budget_curves(rows, "Hi-MPCh", 4)
    assert list(curves) == ["split 0, 8 epochs"] and [e for e, _, _ in curves["split 0, 8 epochs"]] == list(range(1, 9))
    assert report.past_budget_curves(rows, "Hi-MPCh", 8) == {}
    txt = report.past_budget_sentence(curves, 4, {"R1": 56.9, "mAP": 10.2})
    assert "from epoch 4 to 8 Rank-1 48.0 → 57.0 and mAP 7.0 → 11.0" in txt
    assert "best Rank-1, 58.0, at epoch 7" in txt
    assert "at epoch 8 it reaches the quoted R1 and mAP." in txt
    assert "it reaches the quoted R1 and stays below the quoted mAP (by 1.0)" in \
        report.past_budget_sentence(curves, 4, {"R1": 56.9, "mAP": 12.0})
    assert report.past_budget_sentence(curves, 10, {"R1": 56.9}) == ""    # never traced at that budget


def test_trace_figure_draws_the_quoted_level_on_both_panels():
    from himpc.report import viz
    fig = viz.trace_figure({"split 0": [(5, 40.0, 4.0), (10, 45.0, 5.0)]}, reference={"R1": 56.9, "mAP": 10.2})
    ref = [t for t in fig.data if t.name == "paper (quoted)"]
    assert [list(t.y) for t in ref] == [[56.9, 56.9], [10.2, 10.2]] and list(ref[0].x) == [5, 10]


def test_a_sweep_page_shows_its_budget_and_keeps_methods_measured_only_at_others(tmp_path):
    for s in (0, 1, 2):
        _result(tmp_path / "default-e20", "hi-mpch", s, 52.0, epochs=20)
        _result(tmp_path / "default-e5", "hi-mpch", s, 47.0, epochs=5)
    _result(tmp_path / "heads4-e5", "hi-mpch", 0, 40.0, epochs=5, heads=4)
    rows = report.at_budget(report.comparison_rows(8, "KGBD", [tmp_path], ["R1"]), 20)
    ours = {(r["label"], r.get("epochs")) for r in rows if r["source"] == "ours"}
    assert ("heads = 8", 20) in ours and ("heads = 8", 5) not in ours
    assert ("heads = 4", 5) in ours                        # only measured at 5 epochs: kept, labelled
    assert ("heads = 1", None) in ours                     # not measured: its row (and command) stays
    assert sum(r["source"] == "paper" for r in rows) == 4


def test_summary_is_a_list_and_a_method_named_with_a_plus_stays_one_item(tmp_path):
    for s in (0, 1):
        _result(tmp_path / "dpc", "dpc", s, 20.0, epochs=20)
        _result(tmp_path / "mpc", "mpc", s, 47.0, epochs=20)
    text = report.summary_sentences(report.comparison_rows(6, "KGBD", [tmp_path], ["R1", "mAP"]))
    head, items = text.split("\n\n")
    assert head.startswith("2 of the 6 methods") and items.count("\n- ") == 1
    assert items.startswith("- \\+ DPC, 20 epochs, 2 splits: R1 20.0 against 53.7 quoted (-33.7)")


def test_a_replicate_on_one_split_adds_no_subset_rows_for_the_others(tmp_path):
    """Table 6 measured on 3 splits plus a bf16 replicate of Hi-MPCh on split 0: no method gets a
    'split 0 of the 3-split run' row, because no method is measured on split 0 only."""
    for s in (0, 1, 2):
        _result(tmp_path / "mpc", "mpc", s, 47.0, epochs=20)
        _result(tmp_path / "hi-mpch", "hi-mpch", s, 52.0, epochs=20)
    _result(tmp_path / "hi-mpch-bf16", "hi-mpch", 0, 53.0, epochs=20, precision="bf16")
    rows = report.comparison_rows(6, "KGBD", [tmp_path], ["R1"])
    assert not [r for r in rows if r.get("subset_of")]
    _result(tmp_path / "dpc", "dpc", 0, 20.0, epochs=20)      # a method on split 0 only: now they come
    rows = report.comparison_rows(6, "KGBD", [tmp_path], ["R1"])
    assert {r["label"] for r in rows if r.get("subset_of")} == {"+ MPC", "+ Hi + MPC + HSM"}


def test_spreads_are_rounded_once_for_display(tmp_path):
    """R1 46.85, 49.042, 44.737: std 2.1525 reads 2.2 (rounded to 2.15 first it read 2.1)."""
    for s, r1 in enumerate((46.85, 49.042, 44.737)):
        _result(tmp_path / "hi-mpch", "hi-mpch", s, r1, epochs=5)
    (row,) = [r for r in report.comparison_rows(3, "KGBD", [tmp_path], ["R1"]) if r["source"] == "ours"
              and r.get("splits")]
    assert fmt(row["R1"]) == "46.9 ± 2.2"


def test_recorded_commands_read_as_a_reader_types_them():
    from himpc.report.rows import clean_command
    assert clean_command("/w/.venv/bin/himpc eval /work/queue/results/kgbd/e40/p/split0 --out results/x.json") == \
        "himpc eval results/kgbd/e40/p/split0 --out results/x.json"
    assert clean_command("python /w/himpc/__main__.py eval --model /a/models/m.safetensors").endswith(
        "--model models/m.safetensors")


def test_the_main_table_reads_at_a_glance_one_row_per_method(tmp_path):
    """Table 3 at the headline budget: every quoted row, one measured row per method (full data, most
    splits, the default precision); the other budgets, precisions and smoke runs go to the second table."""
    root = tmp_path / "results"
    for s in range(3):
        _result(root / "hi-mpch-e40", "hi-mpch", s, 56.0 + s, epochs=40, precision="bf16")
        _result(root / "hi-mpch-e40-fp32", "hi-mpch", s, 55.0 + s, epochs=40)
    _result(root / "hi-mpch-e20", "hi-mpch", 0, 52.0, epochs=20, precision="bf16")
    _result(root / "smoke", "hi-mpch", 0, 20.0, epochs=40, hidden=32, heads=2, max_persons=4)
    rows = report.comparison_rows(3, "KGBD", [root], ["R1", "mAP"],
                                  scales=[{"hidden": 32, "heads": 2, "max_persons": 4}])
    glance, rest = report.at_a_glance(rows, 40)
    ours = [r for r in glance if r["source"] == "ours" and r.get("splits")]
    assert [(r["label"], r["epochs"], r["precision"], len(r["splits"])) for r in ours] == [("Hi-MPCh", 40, "bf16", 3)]
    assert ours[0]["R1"]["mean"] == pytest.approx(57.0)
    assert {r["source"] for r in glance} == {"paper", "ours"}
    assert len([r for r in glance if r["source"] == "paper"]) == len(report.paper_table(3)["rows"])
    assert sorted((r["epochs"], r["precision"], r["scope"]) for r in rest) == [
        (20, "bf16", "full data"), (40, "fp32", "SMOKE (h 32, M 2, first 4 persons)"), (40, "fp32", "full data")]
    assert all(r in glance or r in rest for r in rows if r["source"] == "ours" and r.get("splits"))


def test_a_table_page_reads_its_parameters_and_shows_what_the_report_functions_give(tmp_path):
    from himpc.report.page import TablePage
    root = tmp_path / "results"
    for s in range(2):
        _result(root / "dpc", "dpc", s, 40.0 + s, epochs=20)
    params = {"results_roots": [str(root)], "epochs": 20, "splits": [0, 1], "unrelated": 1,
              "results_dir": str(tmp_path / "page")}
    page = TablePage.from_parameters((6,), params)
    assert page.epochs == 20 and page.roots == [str(root)] and page.rows    # Table 6's ours entries
    want = report.at_budget(report.comparison_rows(6, "KGBD", [str(root)], ["R1", "mAP"], scales=[page.scale],
                                                   budget={"splits": [0, 1], "epochs": 20}), 20)
    got = page.table_rows(6)
    assert [(r["label"], r["source"], r.get("R1")) for r in got] == [(r["label"], r["source"], r.get("R1")) for r in want]
    page.shown += got
    saved = json.loads(page.save().read_text())
    assert len(saved) == len(got) and all("measured" not in r for r in saved)
    page.run_missing()                        # no train_root: trains nothing
    assert not (tmp_path / "page" / "runs").exists()
