"""mlx-lm (from PyPI) trains the tiny offline fixture model, and its losses can be read from
its own `training_callback` without editing any file (tests/fixtures/mlx_lm_inject)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("mlx_lm")
pytest.importorskip("tokenizers")
pytest.importorskip("transformers")

from fixtures.tiny_mlx_lm import build  # noqa: E402 - after the skips

INJECT = Path(__file__).parent / "fixtures" / "mlx_lm_inject"
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
# mlx-lm 0.32's table rows: "  iter  train_loss ▼|▲  tok/s  tokens", "  iter  val LOSS  TIME"
TRAIN_ROW = re.compile(r"^\s*(\d+)\s+(\d+\.\d+) [\u25bc\u25b2]", re.MULTILINE)
VAL_ROW = re.compile(r"^\s*(\d+)\s+val (\d+\.\d+)", re.MULTILINE)


def test_lora_trains_the_tiny_model_and_reports_through_the_callback(tmp_path: Path) -> None:
    model, data = build(tmp_path / "tiny")
    log = tmp_path / "callback.jsonl"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(INJECT),
           "MLX_LM_CALLBACK_LOG": str(log)}
    proc = subprocess.run(
        [sys.executable, "-m", "mlx_lm", "lora", "--model", str(model), "--train", "--data",
         str(data), "--iters", "10", "--batch-size", "4", "--num-layers", "2",
         "--adapter-path", str(tmp_path / "adapters")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = ANSI.sub("", proc.stdout)
    train = [(int(it), float(loss)) for it, loss in TRAIN_ROW.findall(out)]
    val = [(int(it), float(loss)) for it, loss in VAL_ROW.findall(out)]
    assert [it for it, _ in train] == [10], out
    assert [it for it, _ in val] == [1, 10], out
    assert 4.0 < train[0][1] < 8.0  # ln 512 = 6.24: a random model
    records = [json.loads(line) for line in log.read_text().splitlines()]
    # at the last iteration validation runs first; its "iteration" is it - 1
    assert [(r["kind"], r["iteration"]) for r in records] == [("val", 0), ("val", 9),
                                                              ("train", 10)]
    report = records[2]
    assert round(report["train_loss"], 3) == train[0][1]
    assert round(records[1]["val_loss"], 3) == val[1][1]
    assert set(report) == {"kind", "iteration", "train_loss", "learning_rate",
                               "iterations_per_second", "tokens_per_second", "trained_tokens",
                               "peak_memory"}
    assert report["learning_rate"] == pytest.approx(1e-5)  # mlx-lm's default
