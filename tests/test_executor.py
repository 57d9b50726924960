"""Batch jobs on Dask (himpc.rerun.executor): fan-out equals serial, lost workers resume from checkpoints,
bad input (unreachable scheduler, missing data, unshared results folder) gives one clear message."""

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch

pytest.importorskip("distributed")

from himpc.rerun import executor as ex  # noqa: E402
from himpc.cli import main  # noqa: E402
from himpc.config import make_config  # noqa: E402
from himpc.engine import train  # noqa: E402
from himpc.store import numbers_under  # noqa: E402
from test_engine import SMALL, synthetic_walks  # noqa: E402

SETS = [f"--set={k}={v}" for k, v in SMALL.items()]


def test_unreachable_scheduler_fails_fast_with_the_address(tmp_path, capsys):
    t0 = time.perf_counter()
    with pytest.raises(ex.ExecutorError, match=r"tcp://127\.0\.0\.1:9 "):
        with ex.Executor("tcp://127.0.0.1:9", connect_timeout=2):
            pass
    code = main(["train", "--dataset", "npz:x.npz", "--scheduler", "tcp://127.0.0.1:9", "--out", str(tmp_path)])
    assert code == 2 and "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in capsys.readouterr().err
    assert time.perf_counter() - t0 < 30


def test_split_fan_out_equals_serial_training(tmp_path):
    data = f"npz:{synthetic_walks(tmp_path / 'w.npz', persons=5, walks=4, frames=40)}"
    common = ["train", "--dataset", data, "--splits", "0,1", "--epochs", "2", "--quiet", *SETS]
    assert main([*common, "--out", str(tmp_path / "serial")]) == 0
    assert main([*common, "--out", str(tmp_path / "fan"), "--jobs", "2"]) == 0
    for s in (0, 1):
        a = json.loads((tmp_path / "serial" / f"split{s}" / "result.json").read_text())
        b = json.loads((tmp_path / "fan" / f"split{s}" / "result.json").read_text())
        assert a["metrics"] == b["metrics"]
        assert [h["loss"] for h in a["history"]] == [h["loss"] for h in b["history"]]
        where = b["environment"]["run_on"]          # provenance: the worker, its scheduler, its device
        assert where["worker"].startswith("tcp://") and where["scheduler"].startswith("tcp://")
        assert where["host"] and where["device"] in ("cpu", "cuda") and "worker" not in a["environment"]["run_on"]
    summary = json.loads((tmp_path / "fan" / "summary.json").read_text())
    assert summary["split_seeds"] == [0, 1]


def test_worker_without_the_data_reports_the_data_message(tmp_path, capsys):
    code = main(["train", "--dataset", "KGBD", "--data", str(tmp_path / "nowhere"), "--epochs", "1",
                 "--out", str(tmp_path / "run"), "--jobs", "1", "--quiet"])
    err = capsys.readouterr().err
    assert code == 1 and "FAILED train split0" in err and "Traceback" not in err
    assert "nowhere" in err and "himpc data fetch" in err


def _writes_nothing(path):
    return str(path)


def test_results_folder_not_shared_is_named(tmp_path):
    """A worker says it wrote a file the client cannot see (another filesystem): the run stops and
    names the file."""
    tasks = [ex.Task("t0", _writes_nothing, (tmp_path / "res" / "result.json",),
                     output=tmp_path / "res" / "result.json")]
    with pytest.raises(ex.ResultsNotShared, match=r"res/result\.json.*shared"):
        ex.run_tasks(tasks, jobs=1, progress=False)


def _epoch_of(checkpoint: Path) -> int:
    for _ in range(20):                    # the file is replaced atomically; a read may meet the rename
        try:
            return int(torch.load(checkpoint, weights_only=True)["epoch"])
        except (OSError, RuntimeError, EOFError):
            time.sleep(0.05)
    raise AssertionError(f"cannot read {checkpoint}")


def test_killed_worker_job_resumes_from_its_checkpoint(tmp_path):
    """SIGKILL the worker in the middle of a training job: Dask reschedules the task, it resumes
    from the last checkpoint (run.log says after which epoch) and no checkpointed epoch is redone."""
    data = f"npz:{synthetic_walks(tmp_path / 'w.npz', persons=6, walks=5, frames=80)}"
    cfg = make_config("hi-mpch", dataset=data, epochs=60, **SMALL)   # long enough to kill mid-run
    out = tmp_path / "run"
    ckpt = out / "checkpoint.pt"
    task = ex.Task("train", train, (cfg, None, out), {"progress": False}, output=out / "result.json")
    with ex.Executor(jobs=1) as cluster:
        result: dict = {}
        runner = threading.Thread(target=lambda: result.update(r=list(cluster.run([task], progress=False))))
        runner.start()
        deadline = time.time() + 120
        while not (ckpt.exists() and _epoch_of(ckpt) >= 2):
            assert time.time() < deadline and runner.is_alive(), "training ended before the kill"
            time.sleep(0.05)
        pid = next(iter(cluster.client.run(os.getpid).values()))
        kept = _epoch_of(ckpt) + 1                       # epochs 1..kept are checkpointed (1-based)
        os.kill(pid, signal.SIGKILL)
        runner.join(timeout=300)
    (res,) = result["r"]
    assert res.ok, res.error
    log = (out / "run.log").read_text()
    resumed = [int(m) for m in re.findall(r"resumed from .*checkpoint\.pt after epoch (\d+)", log)]
    assert resumed and resumed[0] >= kept, log[-2000:]
    done = [int(m) for m in re.findall(r"INFO epoch (\d+): loss", log)]
    assert sorted(set(done)) == list(range(1, 61))
    assert all(done.count(e) == 1 for e in range(1, resumed[0] + 1)), done     # none recomputed
    assert res.value["history"][-1]["epoch"] == 59 and len(res.value["history"]) == 60


@pytest.mark.slow
def test_rerun_on_two_workers_equals_serial_and_skips_when_done(tmp_path, capsys):
    data = synthetic_walks(tmp_path / "w.npz", persons=5, walks=4, frames=40)
    grid = tmp_path / "g.yaml"
    grid.write_text(json.dumps({"defaults": {"threads": 1}, "notebooks": {
        "01_skeletons_hierarchy": {"grid": {"max_frames": [4, 6]}, "dataset": f"npz:{data}", "trim": 2},
        "05_main_results": [{"dataset": f"npz:{data}", "train_root": "{results}/train", "splits": [0],
                             "epochs": 2, "hidden": 32, "heads": 2}],
        "14_baselines": [{"dataset": f"npz:{data}", "train_root": "{results}/train", "splits": [0],
                          "hidden": 32, "heads": 2}]}}))
    for jobs, res in (("1", "serial"), ("2", "pair")):
        assert main(["rerun", "--profile", str(grid), "--results", str(tmp_path / res), "--jobs", jobs, "--quiet"]) == 0
        assert "4 executed, 0 skipped" in capsys.readouterr().out
    serial, pair = numbers_under(tmp_path / "serial"), numbers_under(tmp_path / "pair")
    assert serial and serial == pair
    files = {p.relative_to(tmp_path / "serial") for p in (tmp_path / "serial").rglob("*") if p.is_file()}
    assert files == {p.relative_to(tmp_path / "pair") for p in (tmp_path / "pair").rglob("*") if p.is_file()}
    assert not [f for f in files if ".partial" in f.name or f.name.endswith(".tmp")]
    assert main(["rerun", "--profile", str(grid), "--results", str(tmp_path / "pair"), "--jobs", "2", "--quiet"]) == 0
    assert "0 executed, 4 skipped" in capsys.readouterr().out


@pytest.mark.slow
def test_interrupted_rerun_picks_up_where_it_stopped(tmp_path):
    data = synthetic_walks(tmp_path / "w.npz", persons=4, walks=4, frames=40)
    grid = tmp_path / "g.yaml"
    grid.write_text(json.dumps({"notebooks": {"01_skeletons_hierarchy": {
        "grid": {"max_frames": [4, 5, 6, 7, 8, 9, 10, 11]}, "dataset": f"npz:{data}", "trim": 2}}}))
    # 8 jobs: under load the few after the first must not all finish before the Ctrl-C lands
    cmd = [sys.executable, "-m", "himpc.cli", "rerun", "--profile", str(grid), "--results", str(tmp_path / "r"),
           "--quiet"]
    # a shell's background job (`nohup pytest ... &`) starts with SIGINT ignored, and Python keeps an
    # ignored SIGINT: the child gets the default back, as a user's terminal gives it
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    records = tmp_path / "r" / "notebooks" / "01_skeletons_hierarchy"
    deadline = time.time() + 180
    while not list(records.glob("*/record.json")):
        assert time.time() < deadline and proc.poll() is None
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)                      # Ctrl-C
    text = proc.communicate(timeout=120)[0]
    assert proc.returncode == 130 and "picks up where it stopped" in text, text[-2000:]
    first = len(list(records.glob("*/record.json")))
    assert 1 <= first < 8
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-2000:]
    assert f"{8 - first} executed, {first} skipped" in again.stdout


def test_hand_started_scheduler_and_worker_with_a_gpu_resource(tmp_path, capsys):
    """The by-hand recipe of docs/cluster.md: `dask scheduler --scheduler-file`, `dask worker --resources`."""
    dask = Path(sys.executable).with_name("dask")
    if not dask.exists():
        pytest.skip("the dask command line is not installed next to this python")
    sched = tmp_path / "scheduler.json"
    procs = [subprocess.Popen([str(dask), "scheduler", "--scheduler-file", str(sched), "--port", "0",
                               "--no-dashboard"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        deadline = time.time() + 60
        while not sched.exists():
            assert time.time() < deadline, "scheduler did not start"
            time.sleep(0.2)
        procs.append(subprocess.Popen([str(dask), "worker", "--scheduler-file", str(sched), "--nthreads", "1",
                                       "--no-dashboard", "--resources", "GPU=1"],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        from distributed import Client
        with Client(scheduler_file=str(sched), timeout=30) as c:
            c.wait_for_workers(1, timeout=60)
            address = c.scheduler.address
        data = f"npz:{synthetic_walks(tmp_path / 'w.npz', persons=4, walks=4, frames=40)}"
        args = ["train", "--dataset", data, "--epochs", "1", "--quiet", *SETS, "--scheduler", str(sched)]
        assert main([*args, "--out", str(tmp_path / "run"), "--resources", "GPU=1"]) == 0
        res = json.loads((tmp_path / "run" / "split0" / "result.json").read_text())
        assert res["environment"]["run_on"]["scheduler"] == address
        assert main([*args, "--out", str(tmp_path / "tpu"), "--resources", "TPU=1"]) == 2
        assert f"no worker of the scheduler at {address} offers TPU=1" in capsys.readouterr().err
    finally:
        for p in reversed(procs):
            p.terminate()
            p.wait(timeout=30)
