"""The HSM inspector works live: the notebook runs in a kernel, a cell drives the widgets (person,
clip, level, head, epoch) and the importance shown changes with each; the executed notebook keeps
the widget state the static book renders."""

import json

import nbformat
import pytest

from himpc import rerun as rr
from test_engine import synthetic_walks

DRIVE = """\
import numpy as np
shown = [inspector.importance().copy()]
clip = int(np.flatnonzero((run.labels >= 0).all(0).numpy())[0])
inspector.select(clip); shown.append(inspector.importance().copy())
inspector.level.value = 1; shown.append(inspector.importance().copy())
inspector.head.value = 0; shown.append(inspector.importance().copy())
inspector.epoch.value = inspector.epoch.options[0]; shown.append(inspector.importance().copy())
other = next(p for p in inspector.person.options if p != inspector.person.value)
inspector.person.value = other; shown.append(inspector.importance().copy())
changed = [not np.array_equal(a, b, equal_nan=True) for a, b in zip(shown[1:-1], shown[2:])]
assert len(inspector.epoch.options) == 2 and all(changed), (changed, shown)
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
