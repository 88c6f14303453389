"""A short-pretrained TinyLM checkpoint, built on demand and cached on disk.

Job: give scenarios a model that has actually learned something (to compare "loaded model loss"
against "random init ~ ln 256", or to quantize for QLoRA). `pretrained_checkpoint` trains the
default TinyLM with the correct loop on the stdlib-docstring corpus and saves it with
`mx.save_safetensors` (keys = `dict(tree_flatten(model.parameters()))`). Cache directory:
`$MLXPROBE_CACHE` or `~/.cache/mlxprobe`; the file name holds the mlx version and a hash of the
config, training settings and corpus. A JSON sidecar holds the losses. Both files are written to
a temporary file first and moved into place with `os.replace` (sidecar first, weights last), so
concurrent builders never leave a torn file; the last one to finish wins.

May import mlx, numpy and the standard library only (never `mlxprobe.runner` or other parent-side
modules): it runs inside scenario child processes.

Measured (mlx 0.32.4 CPU build, 2 cores, 2026-11-21), default config, 300 steps, AdamW lr 3e-3,
batch 8 x seq 32: build 2.8 s (training + evaluation + save), validation loss 5.73 at init ->
2.71 after training; loading a cached checkpoint takes ~2 ms. Two builds from scratch give
byte-identical files; three concurrent builders into one empty cache left two valid files.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

from ._lm import LMConfig, TinyLM, evaluate, make_model, next_token_loss
from ._text import batches, corpus, split

LEARNING_RATE = 3e-3
BATCH = 8
SEQ = 32
SEED = 0


def cache_dir() -> Path:
    """`$MLXPROBE_CACHE` if set, else `~/.cache/mlxprobe`."""
    return Path(os.environ.get("MLXPROBE_CACHE") or Path.home() / ".cache" / "mlxprobe")


def checkpoint_path(steps: int = 300, config: LMConfig | None = None) -> Path:
    """Where the checkpoint for these settings lives (it may not exist yet)."""
    settings = {
        "config": dataclasses.asdict(config or LMConfig()), "steps": steps,
        "lr": LEARNING_RATE, "batch": BATCH, "seq": SEQ, "seed": SEED,
        "corpus": hashlib.sha256(corpus()).hexdigest(),
    }
    key = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]
    return cache_dir() / f"tinylm-mlx{mx.__version__}-{key}.safetensors"


def _train(steps: int, config: LMConfig) -> tuple[TinyLM, dict[str, Any]]:
    train, val = split()
    model = make_model(SEED, config)
    init_loss = evaluate(model, val)
    optimizer = optim.AdamW(learning_rate=LEARNING_RATE)
    loss_and_grad = nn.value_and_grad(model, next_token_loss)
    for _, tokens in zip(range(steps), batches(train, BATCH, SEQ, SEED)):
        loss, grads = loss_and_grad(model, tokens)
        optimizer.update(model, grads)
        mx.eval(loss, model.parameters(), optimizer.state)
    stats = {"init_val_loss": init_loss, "val_loss": evaluate(model, val), "steps": steps}
    return model, stats


def _atomic_write(path: Path, write: Callable[[IO[bytes]], None]) -> None:
    with tempfile.NamedTemporaryFile(dir=path.parent, prefix=path.name, delete=False) as f:
        try:
            write(f)
        except BaseException:
            f.close()
            os.unlink(f.name)
            raise
    os.replace(f.name, path)


def _build(path: Path, steps: int, config: LMConfig) -> None:
    start = time.perf_counter()
    model, stats = _train(steps, config)
    stats.update(build_seconds=time.perf_counter() - start, mlx_version=mx.__version__)
    weights = dict(tree_flatten(model.parameters()))
    path.parent.mkdir(parents=True, exist_ok=True)
    _atomic_write(path.with_suffix(".json"), lambda f: f.write(json.dumps(stats).encode()))
    _atomic_write(path, lambda f: mx.save_safetensors(f, weights))


def pretrained_checkpoint(steps: int = 300, config: LMConfig | None = None) -> Path:
    """Path of the cached pretrained weights (.safetensors), training them first if needed."""
    path = checkpoint_path(steps, config)
    if not (path.exists() and path.with_suffix(".json").exists()):
        _build(path, steps, config or LMConfig())
    return path


def pretrained_stats(steps: int = 300, config: LMConfig | None = None) -> dict[str, Any]:
    """The sidecar: init_val_loss, val_loss, steps, build_seconds, mlx_version."""
    path = pretrained_checkpoint(steps, config)
    return json.loads(path.with_suffix(".json").read_text())


def pretrained_loss(steps: int = 300, config: LMConfig | None = None) -> float:
    """Validation loss (`_lm.evaluate` on `split()[1]`) of the pretrained checkpoint."""
    return float(pretrained_stats(steps, config)["val_loss"])


def load_pretrained(steps: int = 300, config: LMConfig | None = None) -> TinyLM:
    """A TinyLM with the pretrained weights loaded (strict: every key must match)."""
    path = pretrained_checkpoint(steps, config)
    model = make_model(SEED, config)
    model.load_weights(str(path))
    mx.eval(model.parameters())
    return model
