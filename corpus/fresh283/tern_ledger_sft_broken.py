"""Supervised fine-tuning of a tiny llama on tide-table ledger rows with mlx-lm.

A small config object and a thin wrapper that hands the run to
mlx_lm.tuner.trainer.train, the way a CLI front-end would.
"""

import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import mlx.core as mx
import numpy as np
from mlx_lm.models.llama import Model, ModelArgs

VOCAB = 48
SEQ = 24


@dataclass
class TrainingConfig:
    lr: float = 3e-3
    epochs: int = 1
    batch_size: int = 8
    logging_steps: int = 20
    save_steps: int = 100


@dataclass
class RunConfig:
    base: str = "tiny-llama-2x64"
    output: str = ""
    training: TrainingConfig = field(default_factory=TrainingConfig)


def make_rows(n, rng):
    # each ledger row: start reading s, tidal step d, readings s, s+d, s+2d ... (mod VOCAB-2) + 2
    rows = []
    for _ in range(n):
        s = int(rng.integers(0, VOCAB - 2))
        d = int(rng.integers(1, 6))
        toks = [1] + [2 + (s + k * d) % (VOCAB - 2) for k in range(SEQ - 1)]
        rows.append((toks, 0))
    return rows


class MLXSFTTrainerWrapper:
    def __init__(self, config):
        self.config = config
        self.model = None
        self._dataset = None

    def setup(self, dataset):
        args = ModelArgs(
            model_type="llama",
            hidden_size=64,
            num_hidden_layers=2,
            intermediate_size=128,
            num_attention_heads=4,
            num_key_value_heads=4,
            rms_norm_eps=1e-5,
            vocab_size=VOCAB,
        )
        self.model = Model(args)
        mx.eval(self.model.parameters())
        print(f"model loaded: {self.config.base} (vocab={VOCAB}, layers=2, dim=64)")
        self._dataset = dataset

    def train(self):
        from mlx_lm.tuner.trainer import TrainingArgs, train

        cfg = self.config
        output_dir = Path(cfg.output)
        output_dir.mkdir(parents=True, exist_ok=True)

        batch_size = int(cfg.training.batch_size)
        iters = int(cfg.training.epochs * max(1, len(self._dataset.get("train", []))) // batch_size)
        args = TrainingArgs(
            batch_size=batch_size,
            iters=iters,
            steps_per_report=cfg.training.logging_steps,
            steps_per_eval=cfg.training.save_steps,
            adapter_file=str(output_dir / "adapters.safetensors"),
            max_seq_length=64,
            val_batches=8,
        )

        train(
            model=self.model,
            optimizer=None,
            train_dataset=self._dataset.get("train", []),
            val_dataset=self._dataset.get("val", []),
            training_callback=None,
            args=args,
        )
        print(f"training complete: {output_dir}")


def main():
    mx.random.seed(0)
    rng = np.random.default_rng(0)
    data = {"train": make_rows(960, rng), "val": make_rows(128, rng)}
    with tempfile.TemporaryDirectory() as tmp:
        cfg = RunConfig(output=tmp)
        wrapper = MLXSFTTrainerWrapper(cfg)
        wrapper.setup(data)
        t0 = time.time()
        wrapper.train()
        from mlx_lm.tuner.trainer import evaluate

        val = evaluate(wrapper.model, data["val"], batch_size=8, num_batches=-1, max_seq_length=64)
        print(f"final val loss {val:.3f}  ppl {np.exp(val):.2f}  ({time.time() - t0:.1f}s)")


if __name__ == "__main__":
    main()
