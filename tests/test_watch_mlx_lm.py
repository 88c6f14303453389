"""`mlxprobe watch -- python -m mlx_lm lora ...`: the trainer MLX users run, unmodified.

mlx-lm (the PyPI package, in the test extra) trains the tiny offline model of
tests/fixtures/tiny_mlx_lm.py. Its printed table is no stable format; the bootstrap reads its
losses through mlx-lm's own `training_callback` (wrapping `mlx_lm.tuner.trainer.train` when it
is imported) and beats on its compiled step's `mx.eval`. Measured facts: tests/fixtures/MLX_LM.md.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from fixtures.tiny_mlx_lm import build
from watching import watch

from mlxprobe.watching.output import ProgressParser

SAMPLE = Path(__file__).parent / "fixtures" / "mlx_lm_output_sample.txt"
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
TRAIN_ROW = re.compile(r"^\s*(\d+)\s+(\d+\.\d+) [\u25bc\u25b2]", re.MULTILINE)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> tuple[Path, Path]:
    return build(tmp_path_factory.mktemp("tiny-mlx-lm"))


def lora(tiny: tuple[Path, Path], folder: Path, *extra: str) -> tuple[str, ...]:
    model, data = tiny
    return (sys.executable, "-m", "mlx_lm", "lora", "--model", str(model), "--train",
            "--data", str(data), "--batch-size", "4", "--num-layers", "2",
            "--adapter-path", str(folder / "adapters"), *extra)


def test_a_slowly_learning_lora_run_passes_on_mlx_lms_own_losses(tiny, tmp_path):
    # 40 iterations at 1e-3, a train loss every 2: it falls a few percent after the first
    # report (measured: 1.8% from iteration 10 to 60), which the trend rule must call learning
    program = lora(tiny, tmp_path, "--iters", "40", "--learning-rate", "1e-3",
                   "--steps-per-report", "2")
    done, entry = watch(tmp_path, *program, env={"HF_HUB_OFFLINE": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    assert entry["verdict"] == "pass", entry["reason"]
    assert {"update", "eval", "callback"} <= set(entry["sources"])
    assert entry["metrics"]["steps"] >= 40  # a heartbeat per iteration (and per val batch)
    printed = [float(loss) for _, loss in TRAIN_ROW.findall(ANSI.sub("", done.stdout.decode()))]
    seen = entry["series"]["loss_at"]["loss"]
    assert len(seen) == 20 and [round(v, 3) for v in seen] == printed
    assert entry["evidence"]["trend"]["points"] == 20


def test_a_learning_rate_of_zero_is_no_update_from_the_trainers_own_report(tiny, tmp_path):
    program = lora(tiny, tmp_path, "--iters", "20", "--learning-rate", "0",
                   "--steps-per-report", "5")
    done, entry = watch(tmp_path, *program, env={"HF_HUB_OFFLINE": "1"})
    assert (entry["verdict"], entry["detail"]) == ("no_update", "learning_rate")
    assert entry["evidence"]["reports"] == 4


def test_the_output_parser_reads_mlx_lms_table_too():
    parser = ProgressParser()
    records = [r for line in SAMPLE.read_text(encoding="utf-8").splitlines()
               if (r := parser.parse(line))]
    train = [(r["step"], r["loss"]) for r in records if "loss" in r]
    val = [(r["step"], r["metrics"]["val_loss"]) for r in records if "metrics" in r]
    assert train == [(10, 6.425), (20, 6.386), (30, 6.362), (40, 6.358), (50, 6.369),
                     (60, 6.295)]
    assert val == [(1, 6.42), (60, 6.337)]
