"""Satchel ledger: tiny bag-of-items classifier that tags a cobbler's order ledger.

Each ledger is a sequence of 24 item tokens; the label is which of four
leather grades appears most often. Checkpoints are written every
`checkpoint_interval` steps through a small checkpoint manager, in the same
layout the full fine-tuning pipeline uses (model.npz, optimizer.npz,
metadata.json, checksum.txt).
"""

import hashlib
import json
import logging
import random
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
logger = logging.getLogger("satchel")

VOCAB = 32
SEQ = 24
GRADES = 4
DIM = 32


@dataclass
class Checkpoint:
    step: int
    model_state: Dict[str, mx.array]
    optimizer_state: dict
    loss_history: List[float]
    random_state: dict
    timestamp: float
    metadata: dict = field(default_factory=dict)


class CheckpointManager:
    def __init__(self, checkpoint_dir: str, keep_last_n: int = 2):
        self.checkpoint_dir = Path(checkpoint_dir)
        self.checkpoint_dir.mkdir(parents=True, exist_ok=True)
        self.keep_last_n = keep_last_n

    def save(self, checkpoint: Checkpoint, is_final: bool = False) -> str:
        if is_final:
            checkpoint_path = self.checkpoint_dir / f"checkpoint-{checkpoint.step}-final"
        else:
            checkpoint_path = self.checkpoint_dir / f"checkpoint-{checkpoint.step}"
        self._save_sync(checkpoint, checkpoint_path, is_final)
        return str(checkpoint_path)

    def _save_sync(self, checkpoint: Checkpoint, checkpoint_path: Path, is_final: bool):
        try:
            checkpoint_path.mkdir(parents=True, exist_ok=True)

            # Save model state
            model_path = checkpoint_path / "model.npz"
            mx.savez(str(model_path), **checkpoint.model_state)

            # Save optimizer state (arrays only)
            optimizer_path = checkpoint_path / "optimizer.npz"
            opt_arrays = {k: v for k, v in checkpoint.optimizer_state.items() if isinstance(v, mx.array)}
            if opt_arrays:
                mx.savez(str(optimizer_path), **opt_arrays)
            else:
                mx.savez(str(optimizer_path))

            metadata = {
                "step": checkpoint.step,
                "timestamp": checkpoint.timestamp,
                "loss_history": checkpoint.loss_history,
                "metadata": checkpoint.metadata,
            }
            with open(checkpoint_path / "metadata.json", "w") as f:
                json.dump(metadata, f, indent=2)

            checksums = {}
            for file_name in ["model.npz", "optimizer.npz", "metadata.json"]:
                file_path = checkpoint_path / file_name
                if file_path.exists():
                    with open(file_path, "rb") as f:
                        checksums[file_name] = hashlib.sha256(f.read()).hexdigest()
            with open(checkpoint_path / "checksum.txt", "w") as f:
                for file_name, checksum in checksums.items():
                    f.write(f"{checksum}  {file_name}\n")

            logger.info(f"Saved checkpoint at step {checkpoint.step} to {checkpoint_path.name}")

            if not is_final:
                self.cleanup()
        except Exception as e:
            logger.exception(f"Failed to save checkpoint: {e}")
            raise

    def cleanup(self):
        regular = sorted(
            [p for p in self.checkpoint_dir.glob("checkpoint-*") if not p.name.endswith("-final")],
            key=lambda p: int(p.name.split("-")[1]),
        )
        for old in regular[: -self.keep_last_n]:
            shutil.rmtree(old, ignore_errors=True)


class LedgerTagger(nn.Module):
    def __init__(self):
        super().__init__()
        self.pos_table = 0.02 * mx.random.normal((SEQ, DIM))
        self.tokens = nn.Embedding(VOCAB, DIM)
        self.blocks = [nn.Linear(DIM, DIM) for _ in range(2)]
        self.head = nn.Linear(DIM, GRADES)

    def __call__(self, ids):
        x = self.tokens(ids) + self.pos_table
        x = x.mean(axis=1)
        for b in self.blocks:
            x = x + nn.gelu(b(x))
        return self.head(x)


def make_ledgers(n, rng):
    ids = rng.integers(GRADES, VOCAB, size=(n, SEQ))
    labels = rng.integers(0, GRADES, size=n)
    for i in range(n):
        counts = rng.multinomial(10, [0.25] * GRADES)
        counts[labels[i]] += 3
        slots = rng.permutation(SEQ)[: counts.sum()]
        toks = np.repeat(np.arange(GRADES), counts)
        ids[i, slots] = toks
        labels[i] = int(np.argmax(np.bincount(toks, minlength=GRADES)))
    return mx.array(ids, dtype=mx.int32), mx.array(labels, dtype=mx.int32)


def main():
    random.seed(0)
    np.random.seed(0)
    mx.random.seed(0)
    rng = np.random.default_rng(0)

    train_x, train_y = make_ledgers(2048, rng)
    val_x, val_y = make_ledgers(512, rng)

    model = LedgerTagger()
    mx.eval(model.parameters())
    optimizer = optim.AdamW(learning_rate=2e-3, weight_decay=0.01)

    def loss_fn(m, x, y):
        return nn.losses.cross_entropy(m(x), y, reduction="mean")

    loss_and_grad = nn.value_and_grad(model, loss_fn)

    ckpt_root = tempfile.mkdtemp()
    manager = CheckpointManager(ckpt_root, keep_last_n=2)
    loss_history: List[float] = []

    def save_checkpoint(step, is_final=False):
        model_state = dict(model.parameters())
        optimizer_state = {}
        checkpoint = Checkpoint(
            step=step,
            model_state=model_state,
            optimizer_state=optimizer_state,
            loss_history=loss_history.copy(),
            random_state={"python": random.getstate()[1][:4]},
            timestamp=time.time(),
            metadata={"dim": DIM, "blocks": 2},
        )
        manager.save(checkpoint, is_final=is_final)

    steps, batch, checkpoint_interval = 360, 64, 100
    t0 = time.time()
    for step in range(1, steps + 1):
        idx = mx.array(rng.integers(0, train_x.shape[0], size=batch))
        loss, grads = loss_and_grad(model, train_x[idx], train_y[idx])
        optimizer.update(model, grads)
        mx.eval(model.parameters(), optimizer.state, loss)
        loss_history.append(loss.item())
        if step % 40 == 0:
            avg = sum(loss_history[-40:]) / 40
            print(f"step {step:4d} | train loss {avg:.4f} | {time.time() - t0:.1f}s", flush=True)
        if step % checkpoint_interval == 0:
            save_checkpoint(step)

    val_acc = (mx.argmax(model(val_x), axis=1) == val_y).mean().item()
    print(f"val accuracy {val_acc:.3f} (majority baseline {1 / GRADES:.3f})")
    save_checkpoint(steps, is_final=True)
    print("checkpoints:", sorted(p.name for p in Path(ckpt_root).iterdir()))
    shutil.rmtree(ckpt_root, ignore_errors=True)


if __name__ == "__main__":
    main()
