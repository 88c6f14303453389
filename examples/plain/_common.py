"""What the plain scripts share: their command line, their progress lines, the optional probe.

The scripts in this folder are the catalogue's training loops written as a user writes them:
they import the scenarios' model and data code (`mlxprobe_scenarios`) but never `mlxprobe`,
print their progress, and let exceptions end the process. Only with `--probe` do they import
`from mlxprobe import probe` and hand it the same step metrics and checks the scenario does
(those calls are no-ops outside mlxprobe).

Progress line formats (several, so that an output parser meets more than one):
  "step":     step 12 loss 3.4567 grad_norm 0.1234
  "iter":     Iter 12: Train loss 3.457, It/sec 101.23        (older mlx-lm)
  "bar":      iter 12 | loss 3.4567 | grad_norm 0.1234
  "notebook": Step 12: loss = 3.4567
Validation lines ("iter" only): `Iter 11: Val loss 5.640, Val took 0.021s`.
Checks print `sanity check passed: NAME` or `sanity check FAILED: NAME (fix: HINT)`.
"""

from __future__ import annotations

import argparse
import itertools
import time
from collections.abc import Callable, Iterator
from typing import Any

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlxprobe_scenarios._lm import evaluate
from mlxprobe_scenarios._trainer import LR

FORMATS = ("step", "iter", "bar", "notebook")


def _load_probe() -> Any:
    from mlxprobe import probe  # only with --probe: the user's own probe calls

    return probe


def _number(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


class Run:
    """The script's command line (`VARIANT [--probe]`) and its progress output."""

    def __init__(self, variants: list[str], fmt: str = "step", every: int = 1,
                 doc: str | None = None) -> None:
        if fmt not in FORMATS:
            raise ValueError(f"fmt must be one of {FORMATS}, got {fmt!r}")
        parser = argparse.ArgumentParser(description=(doc or "").split("\n")[0])
        parser.add_argument("variant", choices=variants)
        parser.add_argument("--probe", action="store_true",
                            help="also report metrics and checks through mlxprobe's probe")
        args = parser.parse_args()
        self.variant: str = args.variant
        self.fmt, self.every = fmt, every
        self.probe = _load_probe() if args.probe else None
        self._last = time.perf_counter()

    def step(self, n: int, loss: Any = None, show: bool = True, hidden: tuple[str, ...] = (),
             **metrics: Any) -> None:
        """Step `n` (from 1) done: a progress line at step 1 and every `every` steps.

        `loss` may be an un-evaluated array (then the line leaves it out: printing it would
        evaluate it). `hidden` metrics go to the probe only; `show=False` prints nothing.
        """
        now = time.perf_counter()
        if self.probe is not None:
            self.probe.step(loss=loss, **metrics)
        if show and (n == 1 or n % self.every == 0):
            shown = {k: v for k, v in metrics.items() if k not in hidden}
            print(self._line(n, loss if isinstance(loss, float) else None, shown, now),
                  flush=True)
        self._last = now

    def _line(self, n: int, loss: float | None, metrics: dict[str, Any], now: float) -> str:
        if self.fmt == "iter":
            parts = [f"Iter {n}:"] + ([f"Train loss {loss:.3f},"] if loss is not None else [])
            parts += [f"{k} {_number(v)}," for k, v in metrics.items()]
            return " ".join(parts + [f"It/sec {1 / max(now - self._last, 1e-9):.2f}"])
        if self.fmt == "bar":
            parts = [f"iter {n}"] + ([f"loss {loss:.4f}"] if loss is not None else [])
            return " | ".join(parts + [f"{k} {_number(v)}" for k, v in metrics.items()])
        if self.fmt == "notebook":
            return f"Step {n}: loss = {loss:.4f}" if loss is not None else f"Step {n}"
        parts = [f"step {n}"] + ([f"loss {loss:.4f}"] if loss is not None else [])
        return " ".join(parts + [f"{k} {_number(v)}" for k, v in metrics.items()])

    def validation(self, n: int, val_loss: float, seconds: float) -> None:
        print(f"Iter {n}: Val loss {val_loss:.3f}, Val took {seconds:.3f}s", flush=True)

    def check(self, name: str, ok: bool, hint: str = "", **evidence: Any) -> None:
        """The script's own sanity check: printed; with --probe, also a probe check."""
        fix = f" (fix: {hint})" if hint and not ok else ""
        print(f"sanity check {'passed' if ok else 'FAILED'}: {name}{fix}", flush=True)
        if self.probe is not None:
            self.probe.check(name, ok, hint=hint, **evidence)

    def note(self, **info: Any) -> None:
        if self.probe is not None:
            self.probe.note(**info)


def train_lm(run: Run, model: nn.Module, loss_fn: Callable[..., mx.array],
             data: Iterator[mx.array], steps: int, valid: np.ndarray | None = None,
             eval_every: int = 0) -> float:
    """The correct TinyLM loop (as `_trainer.train`): AdamW, one `mx.eval` a step; with
    `valid` and `eval_every`, a validation line at steps 1, 1 + eval_every, ... The last
    training loss."""
    optimizer = optim.AdamW(learning_rate=LR)
    loss_and_grad = nn.value_and_grad(model, loss_fn)
    last = float("nan")
    for n, tokens in enumerate(itertools.islice(data, steps), start=1):
        loss, grads = loss_and_grad(model, tokens)
        optimizer.update(model, grads)
        mx.eval(loss, model.parameters(), optimizer.state)
        last = loss.item()
        extra = {}
        if valid is not None and eval_every and (n - 1) % eval_every == 0:
            start = time.perf_counter()
            extra["val_loss"] = evaluate(model, valid)
            run.validation(n, extra["val_loss"], time.perf_counter() - start)
        run.step(n, last, hidden=tuple(extra), **extra)
    return last
