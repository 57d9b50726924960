"""The HSM inspector works live: the notebook runs in a kernel, a cell drives the widgets (person,
clip, level, head, epoch) and the importance shown changes with each; the executed notebook keeps
the widget state the static book renders."""

import json

import nbformat
import pytest

from himpc.rerun import notebooks as rr
from test_engine import synthetic_walks

DRIVE = """\
import numpy as np
act = [lv for lv in range(len(run.levels)) if bool(run.protos.active[lv])]
inl = np.flatnonzero((run.labels[act] >= 0).all(0).numpy())
inspector.select(int(inl[0])); inspector.level.value = act[0]
last = inspector.importance().copy()
assert np.isfinite(last).all(), last
changed = {}
def step(name, widget, value):
    global last
    widget.value = value
    now = inspector.importance().copy()
    changed[name] = not np.array_equal(now, last, equal_nan=True)
    last = now
if len(act) > 1:
    step("level", inspector.level, act[1])
step("head", inspector.head, 0)
step("epoch", inspector.epoch, inspector.epoch.options[0])
inspector.epoch.value = inspector.epoch.options[-1]
last = inspector.importance().copy()
other = next(int(i) for i in inl if run.split.train.person[i] != run.split.train.person[inl[0]])
step("person", inspector.person, str(run.split.train.person[other]))
assert len(inspector.epoch.options) == 2 and all(changed.values()), changed
print("INSPECTOR-OK", changed)
"""


@pytest.mark.slow
def test_inspector_widgets_change_the_importance(tmp_path):
    import papermill
    data = synthetic_walks(tmp_path / "w.npz", persons=5, walks=5, frames=40)
    nb = nbformat.read(rr.NOTEBOOKS / "04_hard_skeleton_mining.ipynb", as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(DRIVE))
    src = tmp_path / "04.ipynb"
    nbformat.write(nb, src)
    out = tmp_path / "04-out.ipynb"
    papermill.execute_notebook(str(src), str(out), cwd=str(rr.ROOT), progress_bar=False, parameters=dict(
        small_model=True, dataset=f"npz:{data}", max_persons=0, epochs=2, hidden=16, heads=2, threads=1,
        n_clips=4, results_dir=str(tmp_path / "res")))
    done = json.loads(out.read_text())
    assert "INSPECTOR-OK" in "".join("".join(o.get("text", "")) for o in done["cells"][-1]["outputs"])
    state = done["metadata"].get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {})
    assert state.get("state"), "the executed notebook keeps no widget state for the static book"
