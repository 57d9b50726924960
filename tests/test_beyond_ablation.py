"""The combined method's ablation table (himpc.report.beyond_ablation), read from generated result files."""

import json
from pathlib import Path

import pytest

from himpc.report import beyond_ablation as ba
from himpc.config import make_config
from himpc.posthoc import EVALUATIONS


def _m(r1: float) -> dict:
    return {"R1": r1, "R5": r1 + 10, "R10": r1 + 20, "mAP": r1 / 5}


def _train(folder: Path, preset: str, split: int, levels: dict, epochs: int = 40, precision="bf16", **over):
    cfg = make_config(preset, split_seed=split, epochs=epochs, precision=precision, **over)
    res = {"kind": "train", "config": cfg.to_dict(), "epochs": epochs, "precision": precision,
           "metrics": {k: _m(v) for k, v in levels.items()}}
    (folder / f"split{split}").mkdir(parents=True)
    (folder / f"split{split}" / "result.json").write_text(json.dumps(res))


def _posthoc(folder: Path, preset: str, split: int, entries: dict, epoch: int = 40, **over):
    cfg = make_config(preset, split_seed=split, epochs=epoch, **over)
    res = {"kind": "posthoc", "epoch": epoch, "precision": "bf16", "config": cfg.to_dict(),
           "beyond_protocol": {EVALUATIONS[k]: {"metrics": _m(v)} for k, v in entries.items()}}
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{preset}-split{split}.json").write_text(json.dumps(res))


@pytest.fixture()
def roots(tmp_path):
    r = tmp_path / "kgbd"
    for s in (0, 1, 2):
        _train(r / "e40/hi-mpc-plus", "hi-mpc+", s, {"msmr": 58.0 + s, "fused": 60.0 + s})
        _train(r / "e40/hi-mpch-bf16", "hi-mpch", s, {"msmr": 55.0 + s})          # written before "fused"
        _posthoc(r / "e40/beyond", "hi-mpch", s, {"fused": 56.0 + s})
        _posthoc(r / "e40/beyond", "hi-mpc+", s, {"fused": 60.0 + s, "fused-rerank": 63.0 + s})
    for s in (0, 1):                                                             # one split still missing
        _train(r / "e40/walk", "hi-mpch", s, {"msmr": 57.0, "fused": 59.0 + s}, pseudo_labels="walk")
    for s in (0, 1, 2):                                                          # the combined method, hi-mpc++
        _train(r / "e40/hi-mpc-plusplus", "hi-mpc++", s, {"msmr": 62.0 + s, "fused": 64.0 + s})
        _train(r / "e40/walk-memory", "hi-mpch", s, {"msmr": 1.0, "fused": 61.0 + s}, pseudo_labels="walk",
               memory_momentum=0.2)
        _posthoc(r / "e40/beyond", "hi-mpc++", s, {"fused": 64.0 + s, "fused-rerank": 66.0 + s})
    for s in (1, 2):                                                             # DBSCAN + memory: split 0 missing
        _train(r / "e40/dbscan-memory", "hi-mpch", s, {"msmr": 1.0, "fused": 57.0 + s}, memory_momentum=0.2)
    _train(r / "e20/hi-mpc-plus", "hi-mpc+", 0, {"msmr": 1.0, "fused": 1.0}, epochs=20)   # another budget
    _train(r / "e40/smoke", "hi-mpc+", 2, {"msmr": 1.0, "fused": 1.0}, max_persons=4)     # cut down
    return [r]


def test_rows_are_read_on_the_splits_every_measured_row_shares(roots):
    rows = {r["label"]: r for r in ba.ablation_rows(roots, 40, rows=ba.PLUS_ROWS)}
    plus = rows[ba.PLUS_ROWS[0].label]
    assert plus["splits"] == [0, 1] and plus["R1"]["mean"] == pytest.approx(60.5)      # walk row lacks split 2
    assert plus["per_split"] == {0: _m(60.0), 1: _m(61.0)}
    assert rows[ba.PLUS_ROWS[1].label]["R1"]["mean"] == pytest.approx(58.5)          # msmr of the same runs
    assert rows[ba.PLUS_ROWS[2].label]["mAP"]["mean"] == pytest.approx((59.0 + 60.0) / 2 / 5)
    assert rows[ba.PLUS_ROWS[3].label]["R1"]["mean"] == pytest.approx(56.5)          # from the post-hoc files
    assert rows[ba.PLUS_ROWS[4].label]["R1"]["mean"] == pytest.approx(55.5)
    rr = rows[ba.PLUS_ROWS[5].label]
    assert rr["transductive"] and rr["R1"]["mean"] == pytest.approx(63.5)
    assert all("2 splits" in r["series"] for r in rows.values())


def test_the_combined_method_minus_each_component(roots):
    """hi-mpc++'s rows: minus the memory is hi-mpc+, minus the merging one class per walk with the
    memory, minus the walks DBSCAN with the memory; all on the splits they share (DBSCAN lacks 0)."""
    rows = ba.ablation_rows(roots, 40)
    by = {r["label"]: r for r in rows}
    assert [r["label"] for r in rows][0] == ba.COMBINED.label and rows[-1]["label"] == ba.RERANK.label
    assert all(r["splits"] == [1, 2] for r in rows)
    assert by[ba.COMBINED.label]["R1"]["mean"] == pytest.approx(65.5)
    assert by[ba.ROWS[1].label]["R1"]["mean"] == pytest.approx(63.5)                 # MSMR of the same runs
    assert by[ba.ROWS[2].label]["R1"]["mean"] == pytest.approx(61.5)                 # hi-mpc+ (no memory)
    assert by[ba.ROWS[3].label]["R1"]["mean"] == pytest.approx(62.5)                 # walks + memory
    assert by[ba.ROWS[4].label]["R1"]["mean"] == pytest.approx(58.5)                 # DBSCAN + memory
    assert by[ba.RERANK.label]["R1"]["mean"] == pytest.approx(67.5) and by[ba.RERANK.label]["transductive"]
    text = ba.targets_sentence(rows, {"R1": 62.0, "mAP": 15.0, "mAP_rerank": 20.0}, {"R1": 56.9, "mAP": 10.2})
    assert text.startswith("Over 2 splits") and "hi-mpc++ reaches 65.5 Rank-1 and 13.1 mAP" in text
    assert "+3.5 / -1.9 against the targets" in text and "13.5 mAP, -6.5" in text


def test_a_row_without_runs_says_how_to_make_them(roots):
    rows = ba.ablation_rows(roots, 40, precision="fp32")
    assert all(not r["splits"] and "himpc train --preset" in r["command"] for r in rows)
    assert "--set memory_momentum=0.2 --set pseudo_labels=walk" in rows[3]["command"]


def test_table_and_sentence_state_every_number_and_gap(roots):
    rows = ba.ablation_rows(roots, 40, rows=ba.PLUS_ROWS)
    table = ba.ablation_table(rows)
    assert len(table.rows) == len(ba.PLUS_ROWS) and table.rows[0][1] == "60.5 ± 0.7" and table.rows[0][-1] == "0, 1"
    assert ba.per_split_table(rows, "R1").rows[0][1:] == ["60.0", "61.0"]
    changed = ba.ablation_table(rows, delta=("R1", "mAP"))
    assert changed.header[5:7] == ["Δ R1", "Δ mAP"] and changed.rows[0][5:7] == ["—", "—"]
    assert changed.rows[1][5:] == ["-2.0", "-0.4", "0, 1"]                      # MSMR against fused, same runs
    one = ba.ablation_table([{**rows[0], "splits": [0], **{m: {"mean": 1.0, "std": 0.0} for m in ba.METRICS}}])
    assert one.rows[0][1] == "1.0"                                               # one split: no spread
    text = ba.targets_sentence(rows, {"R1": 62.0, "mAP": 15.0, "mAP_rerank": 20.0}, {"R1": 56.9, "mAP": 10.2},
                               ba.PLUS, ba.PLUS_RERANK)
    assert "hi-mpc+ reaches 60.5 Rank-1 and 12.1 mAP" in text and "+3.6 / +1.9" in text and "-1.5 / -2.9" in text
    assert "re-ranking" in text and "12.7 mAP, -7.3" in text
    assert "not measured" in ba.targets_sentence([], {"R1": 1, "mAP": 1, "mAP_rerank": 1}, {"R1": 1, "mAP": 1})


def test_label_quality_reads_the_histories_of_each_way_to_label(tmp_path):
    r = tmp_path / "kgbd"
    for s, pur in ((0, 0.9), (1, 0.8)):
        _train(r / "plus", "hi-mpc++", s, {"msmr": 50.0, "fused": 51.0})
        f = r / "plus" / f"split{s}" / "result.json"
        res = json.loads(f.read_text())
        res["history"] = [{"epoch": e, "purity": {"J": pur + e / 100}, "clusters": {"J": 200 - e},
                           "test": {"msmr": _m(40.0 + e), "fused": _m(41.0 + e)} if e == 1 else None}
                          for e in range(3)]
        f.write_text(json.dumps(res))
    x, purity, classes = ba.label_quality_series([r], 40)
    assert x == [1, 2, 3] and list(purity) == ["merged walks (hi-mpc++)"]
    assert purity["merged walks (hi-mpc++)"] == pytest.approx([0.85, 0.86, 0.87])
    assert classes["merged walks (hi-mpc++)"] == [200, 199, 198]
    assert ba.trace_curves(ba.COMBINED, [r], 40) == {"split 0": [(2, 42.0, 42.0 / 5)], "split 1": [(2, 42.0, 42.0 / 5)]}


def test_readme_headline_is_what_the_result_files_say():
    """README.md's headline block equals scripts/readme_headline.py's output on the committed results."""
    import importlib.util
    root = Path(__file__).resolve().parent.parent
    spec = importlib.util.spec_from_file_location("readme_headline", root / "scripts" / "readme_headline.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    text = (root / "README.md").read_text()
    assert ba.replace_block(text, mod.generated()) == text, "run python scripts/readme_headline.py"
    assert "Hi-MPCh, paper (quoted)" in text.split(ba.README_BEGIN)[1].split(ba.README_END)[0]


def test_replace_block_needs_its_markers():
    assert ba.replace_block(f"a{ba.README_BEGIN}\nold\n{ba.README_END}b", "new") == \
        f"a{ba.README_BEGIN}\nnew\n{ba.README_END}b"
    with pytest.raises(ValueError, match="block"):
        ba.replace_block("no markers", "x")


def test_long_budget_rows_and_the_paper_protocol_replayed(roots):
    """At the long budget: the last epoch of each run, and beside it the epoch the authors' code would
    report (best traced Rank-1, patience 50), labelled as test-selected, with the epoch it picked."""
    r = roots[0]
    trace = {0: [50.0, 58.0, 57.0, 56.0], 1: [50.0, 51.0, 55.0, 54.0]}            # R1 every 20 epochs
    for s, r1s in trace.items():
        _train(r / "e80/hi-mpch", "hi-mpch", s, {"msmr": r1s[-1]}, epochs=80)
        f = r / f"e80/hi-mpch/split{s}/result.json"
        res = json.loads(f.read_text())
        res["history"] = [{"epoch": e, "test": {"msmr": _m(0.0)}} for e in range(80)]
        for i, v in enumerate(r1s):
            res["history"][20 * i + 19]["test"] = {"msmr": _m(v)}
        res["history"] = [h if (h["epoch"] + 1) % 20 == 0 else {"epoch": h["epoch"]} for h in res["history"]]
        f.write_text(json.dumps(res))
    long = ba.ablation_rows(roots, 80, rows=(ba.PAPER,))[0]
    assert long["splits"] == [0, 1] and long["R1"]["mean"] == pytest.approx(55.0)
    oracle = ba.oracle_test_row(long)
    assert oracle["picked"] == {0: 40, 1: 60} and oracle["R1"]["mean"] == pytest.approx(56.5)
    assert "probe/gallery" in oracle["label"]
    md = ba.headline_markdown(roots, 40, {"tables": {"table3": {"rows": [
        {"method": "Hi-MPCh", "values": {"KGBD": _m(56.9)}}]}}}, long_epochs=80)
    last = md.splitlines()[-2:]
    assert "80 epochs fixed in advance" in last[0] and "55.0 ± 1.4" in last[0] and "2 splits" in last[0]
    assert "epoch 40, 60" in last[1] and "test-selected" in last[1] and "56.5 ± 2.1" in last[1]


def test_walk_level_rows_put_the_raw_distance_beside_the_models(tmp_path):
    r = tmp_path / "kgbd"
    for s in (0, 1):
        _posthoc(r / "e40/beyond", "hi-mpch", s, {"fused-walk": 80.0 + s})
        _posthoc(r / "e40/beyond", "hi-mpc+", s, {"fused-walk": 88.0 + s})
        _posthoc(r / "e40/beyond", "hi-mpc++", s, {"fused-walk": 90.0 + s})
        cfg = make_config("hi-mpch", split_seed=s)
        res = {"kind": "baseline", "baseline": "raw", "config": cfg.to_dict(),
               "metrics": {"msmr": _m(48.0 + s), "walk-level": _m(70.0 + s)}}
        (r / "baseline-raw" / f"split{s}").mkdir(parents=True)
        (r / "baseline-raw" / f"split{s}" / "result.json").write_text(json.dumps(res))
    other = make_config("hi-mpch", split_seed=0, root_joint="Head").to_dict()      # another protocol: left out
    (r / "baseline-raw-head" / "split0").mkdir(parents=True)
    (r / "baseline-raw-head" / "split0" / "result.json").write_text(json.dumps(
        {"kind": "baseline", "baseline": "raw", "config": other, "metrics": {"msmr": _m(1.0), "walk-level": _m(1.0)}}))
    rows = {x["label"]: x for x in ba.walk_level_rows([r], 40)}
    assert rows["raw clip distance, walk level"]["R1"]["mean"] == pytest.approx(70.5)
    assert rows["raw clip distance, clip level (the protocol)"]["R1"]["mean"] == pytest.approx(48.5)
    assert rows["hi-mpc+, fused levels, walk level"]["R1"]["mean"] == pytest.approx(88.5)
    assert rows["hi-mpc++, fused levels, walk level"]["R1"]["mean"] == pytest.approx(90.5)
    assert all(x["splits"] == [0, 1] for x in rows.values())
    assert ba.ablation_table(list(rows.values())).rows[1][1] == "70.5 ± 0.7"


def test_the_combined_method_at_the_long_budget_joins_the_headline_when_measured(roots):
    r = roots[0]
    paper = {"tables": {"table3": {"rows": [{"method": "Hi-MPCh", "values": {"KGBD": _m(56.9)}}]}}}
    before = ba.headline_markdown(roots, 40, paper, long_epochs=80)
    assert "hi-mpc+ (merged walks, fused levels), 80 epochs" not in before
    for s in (0, 1, 2):
        _train(r / "e80/hi-mpc-plus", "hi-mpc+", s, {"msmr": 60.0 + s, "fused": 62.0 + s}, epochs=80)
    after = ba.headline_markdown(roots, 40, paper, long_epochs=80).splitlines()
    row = next(line for line in after if line.startswith("| hi-mpc+ (merged walks, fused levels), 80 epochs"))
    assert "63.0 ± 1.0" in row and "80 epochs fixed in advance" in row and "3 splits" in row
    assert not any("re-ranking (transductive), 80 epochs" in line for line in after)   # not evaluated at 80
    assert not any(line.startswith(f"| {ba.COMBINED.label}, 80 epochs") for line in after)
    _train(r / "e80/hi-mpc-plusplus", "hi-mpc++", 0, {"msmr": 1.0, "fused": 66.0}, epochs=80)
    row = next(line for line in ba.headline_markdown(roots, 40, paper, long_epochs=80).splitlines()
               if line.startswith(f"| {ba.COMBINED.label}, 80 epochs"))
    assert "| 66.0 |" in row and "split 0 only" in row                              # one split: no spread


def test_each_lever_is_compared_with_hi_mpc_plus_on_its_own_splits(roots):
    r = roots[0]
    _train(r / "e40/hi-mpc-plus-motionscale10", "hi-mpc+", 0, {"msmr": 1.0, "fused": 62.5}, motion_scale=10.0)
    _train(r / "e40/hi-mpc-plus-motionscale10", "hi-mpc+", 2, {"msmr": 1.0, "fused": 61.5}, motion_scale=10.0)
    motion, fused, *_ = ba.lever_rows(roots, 40)
    assert motion["splits"] == [0, 2] and motion["reference"]["splits"] == [0, 2]
    assert motion["reference"]["R1"]["mean"] == pytest.approx(61.0)              # hi-mpc+ on splits 0 and 2
    assert motion["delta"]["R1"]["mean"] == pytest.approx(((62.5 - 60.0) + (61.5 - 62.0)) / 2)
    assert motion["delta"]["mAP"]["mean"] == pytest.approx(1.0 / 5)
    assert not fused["splits"] and "--set walk_merge_on=fused" in fused["command"]
    table = ba.lever_table([motion, fused])
    assert table.rows[0][1:3] == ["62.0 ± 0.7", "12.4 ± 0.1"] and table.rows[0][5:] == ["+1.0", "+0.2", "0, 2"]
    assert table.rows[1][1:] == ["—"] * 6 + ["not measured"]
    assert ba.levers_sentence([motion, fused]) == (
        "Helps on every split it ran on: none. Does not: motion channels (frame displacements x 10) "
        "(+0.2 mAP, +1.0 R1, splits 0, 2).")                                     # mAP down on split 2
    assert ba.levers_sentence([fused]) == "No lever is measured yet."


def test_the_supervised_reference_says_how_much_labels_could_add(roots):
    assert "not measured yet" in ba.supervised_sentence(ba.lever_rows(roots, 40), 15.0)
    _train(roots[0] / "e40/hi-mpc-plus-supervised", "hi-mpc+", 1, {"msmr": 1.0, "fused": 66.0},
           pseudo_labels="identity")
    text = ba.supervised_sentence(ba.lever_rows(roots, 40), 15.0)
    assert "66.0 Rank-1 / 13.2 mAP against hi-mpc+'s 61.0 / 12.2" in text and "split 1" in text
    assert "change mAP by +1.0 where the target of 15 needs +2.8" in text and "cannot reach" in text
    assert "within what" in ba.supervised_sentence(ba.lever_rows(roots, 40), 13.0)


def test_hi_mpc_plus_plus_is_hi_mpc_plus_with_the_memory_lever():
    """The preset is exactly the lever measured on hi-mpc+ (so the lever's runs are its runs), and a
    reference model of it is named by its preset."""
    from himpc.config import preset_of
    assert make_config("hi-mpc++") == make_config("hi-mpc+", memory_momentum=0.2)
    assert ba.COMBINED.preset == "hi-mpc++" and ba.LEVER_ROWS[3].overrides == {"memory_momentum": 0.2}
    assert preset_of(make_config("hi-mpc+", memory_momentum=0.2, split_seed=2)) == "hi-mpc++"
    assert preset_of(make_config("hi-mpch")) == "hi-mpch" and preset_of(make_config("hi-mpch", heads=4)) is None
