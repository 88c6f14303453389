"""Where a distributed scenario's ranks run on machines of every shape, decided from a fake
GPU count (`MLXPROBE_GPUS`): no GPU needed. A scenario that cannot run is `skipped`, with
the machine's shape in its reason, and counted apart by the run summary and by `compare`.
Cost: ~2 s (one CLI run that launches nothing; no child process is started)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlxprobe import cli
from mlxprobe.gating.comparison import compare
from mlxprobe.launching import catalog, placement
from mlxprobe.launching.placement import MachineShape, place
from mlxprobe.launching.spec import spec_for
from mlxprobe.reporters import changes, table
from mlxprobe.results import report

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ROOT / "scenarios"
ONE_GPU, TWO_GPUS, CPU = MachineShape(True, 1), MachineShape(True, 2), MachineShape(False, 0)


@pytest.fixture
def gpus(monkeypatch):
    """Pretend this machine has N CUDA GPUs (0: none), for this test only."""
    def set_count(count: int, backend: str | None = None) -> None:
        monkeypatch.setenv(placement.GPUS_ENV, str(count))
        if backend:
            monkeypatch.setenv("MLXPROBE_BACKEND", backend)
        else:
            monkeypatch.delenv("MLXPROBE_BACKEND", raising=False)
        placement.machine_shape.cache_clear()
    yield set_count
    placement.machine_shape.cache_clear()


def test_fewer_gpus_than_ranks_runs_the_ring_backend_sharing_the_gpu():
    chosen = place(2, None, ONE_GPU)
    assert chosen.backend == "ring" and chosen.skip is None
    assert "sharing the one GPU" in chosen.where and "CUDA, 1 GPU" in chosen.where
    four = place(4, None, TWO_GPUS)  # ring gives its ranks no CUDA_VISIBLE_DEVICES: GPU 0
    assert four.backend == "ring" and "4 ranks sharing GPU 0" in four.where


def test_one_gpu_per_rank_keeps_mlx_launchs_default_nccl():
    assert place(2, None, TWO_GPUS).backend is None  # mlx.launch picks NCCL, GPU = rank
    assert place(2, "nccl", TWO_GPUS).skip is None


@pytest.mark.parametrize("shape", [ONE_GPU, CPU])
def test_nccl_asked_for_on_too_few_gpus_is_skipped_naming_the_shape(shape):
    chosen = place(2, "nccl", shape)
    assert chosen.skip and shape.describe() in chosen.skip
    assert "one CUDA GPU per rank" in chosen.skip


def test_without_cuda_the_launchers_default_ring_runs_unchanged():
    assert place(2, None, CPU) == placement.Placement(None, chosen_where(CPU))
    assert place(2, "ring", TWO_GPUS).backend == "ring"
    assert place(1, "nccl", CPU).skip is None  # one process: no collective to place


def chosen_where(shape: MachineShape) -> str:
    return f"ring backend, 2 ranks on this machine ({shape.describe()})"


def test_the_fake_count_reaches_the_launch_command(gpus):
    scenario = next(s for s in catalog.discover(SCENARIOS) if s.id == "rank-exits-early")
    gpus(1)
    argv = spec_for(scenario, "broken").launch.argv
    assert argv[argv.index("--backend") + 1] == "ring"
    gpus(2)
    assert "--backend" not in spec_for(scenario, "broken").launch.argv


def test_a_bad_fake_count_is_a_usage_error(gpus, monkeypatch, capsys):
    gpus(1)
    monkeypatch.setenv(placement.GPUS_ENV, "one")
    placement.machine_shape.cache_clear()
    code = cli.main(["run", "--scenarios", str(SCENARIOS), "--tag", "distributed"])
    assert code == 2 and "MLXPROBE_GPUS='one'" in capsys.readouterr().err


def test_skipped_runs_are_counted_apart_and_do_not_fail_the_run(gpus, tmp_path, capsys):
    gpus(1, backend="nccl")
    out = tmp_path / "r.json"
    code = cli.main(["run", "--scenarios", str(SCENARIOS), "--tag", "distributed",
                     "--quiet", "--no-color", "--json", str(out)])
    printed = capsys.readouterr().out
    runs = json.loads(out.read_text())["runs"]
    assert code == 0 and len(runs) == 6
    assert all(r["verdict"] == "skipped" and not r["matched"] for r in runs)
    assert all("CUDA, 1 GPU" in r["skipped"] for r in runs)
    assert "no verdict: every run was skipped; 6 skipped (not run on this machine: NCCL " \
        "needs one CUDA GPU per rank" in printed


def entry(variant: str, skipped: str = "") -> dict:
    run = {"scenario": "rank-exits-early", "variant": variant, "repeat": 0,
           "expected": "pass", "verdict": "skipped" if skipped else "pass", "detail": "",
           "matched": not skipped, "reason": skipped or "ok", "metrics": {},
           "environment": {"mlx_version": "0.32.4", "device": "gpu", "python": "3.12"}}
    return {**run, "skipped": skipped} if skipped else run


def test_a_gate_is_never_green_on_skipped_variants_alone():
    why = "NCCL needs one CUDA GPU per rank: 2 ranks, this machine has CUDA, 1 GPU"
    both = compare(report.build([entry("fixed", why)]), report.build([entry("fixed", why)]))
    assert both.failed and both.changes[0].kind == "skipped"
    assert "NOT checked" in changes.headline(both) and "CUDA, 1 GPU" in changes.headline(both)
    mixed = compare(report.build([entry("fixed", why), entry("other")]),
                    report.build([entry("fixed", why), entry("other")]))
    assert not mixed.failed  # the variant that ran is checked; the skipped one is named
    assert "1 skipped, NOT checked (BASE: NCCL needs" in changes.headline(mixed)


def test_the_table_marks_a_skipped_run():
    assert table.row(entry("fixed", "no GPU"))[4] == "skip"
    assert table.summary([entry("fixed", "no GPU"), entry("other")]) == (
        "1/1 verdicts matched their expectation; 1 skipped (not run on this machine: no GPU)")


def test_watch_ranks_takes_the_same_placement(gpus, capsys):
    from mlxprobe.commands import watch
    args = cli.build_parser().parse_args(["watch", "--ranks", "2", "--", "python", "x.py"])
    gpus(1)
    argv = watch.launch_from(args).argv
    assert argv[argv.index("--backend") + 1] == "ring"
    assert "sharing the one GPU" in capsys.readouterr().err
    code = cli.main(["watch", "--ranks", "2", "--backend", "nccl", "--", "python", "x.py"])
    assert code == 2 and "CUDA, 1 GPU" in capsys.readouterr().err
