"""`pytest scenarios/ -n 2` (pytest-xdist) works, and its JSON report holds every worker's runs
(issue 13). A small subset keeps it cheap: the whole catalogue under -n 2 took 55 s."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from mlxprobe.results import report

pytest.importorskip("xdist", reason="pytest-xdist is in the test extra")
ROOT = Path(__file__).resolve().parents[1]
ITEMS = ("scenarios/conv1d_layout.py::broken", "scenarios/custom_trainable_parameters.py"
         "::broken_flat", "scenarios/swallowed_grad_error.py::surfaced",
         "scenarios/qlora_notebook.py::seed_fix")


def test_scenarios_run_under_xdist_with_one_merged_report(tmp_path: Path) -> None:
    out = tmp_path / "xdist.json"
    stale = Path(str(out) + ".share-gw9")
    stale.write_text("{}")  # a share left by an earlier session is not merged
    done = subprocess.run([sys.executable, "-m", "pytest", *ITEMS, "-n", "2", "-q",
                           "-p", "no:cacheprovider",
                           "--mlxprobe-json", str(out)],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "4 passed" in done.stdout
    assert "bringing up nodes" in done.stdout  # xdist ran them in workers
    data = report.load(out)
    assert data["complete"] is True
    assert sorted((r["scenario"], r["variant"]) for r in data["runs"]) == sorted(
        [("conv1d-layout", "broken"), ("custom-trainable-parameters", "broken_flat"),
         ("swallowed-grad-error", "surfaced"), ("qlora-notebook", "seed_fix")])
    assert all(r["matched"] for r in data["runs"])
    assert list(tmp_path.glob("xdist.json.share-*")) == []


def test_the_stability_benchmark_has_an_xdist_round(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("stability", ROOT / "benchmarks" /
                                                  "stability.py")
    stability = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(stability)
    args = stability.parse_args(["--xdist", "2", "--busy", "--scenario", "step2-hang"])
    assert stability.mode_of(args) == "busy1-xdist2"
    command = stability.cli_command(args, tmp_path / "r.json")
    assert command[1:4] == ["-m", "pytest", str(ROOT / "scenarios")]
    assert command[command.index("-n") + 1] == "2" and "step2_hang" in command
    assert "--mlxprobe-json" in command
