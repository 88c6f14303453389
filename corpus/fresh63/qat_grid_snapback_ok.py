"""Quantization-aware fine-tune of a small regressor (4-bit, group 64).

Mirrors a minimal QAT option of an SFT trainer: after every optimizer step the
forward pass sees weights fake-quantized on a symmetric per-group int grid
(straight-through estimator) so the model 'gets used to' 4-bit weights.
"""
import math
import time
from dataclasses import dataclass

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map


@dataclass
class TrainArgs:
    iters: int = 3000
    batch_size: int = 64
    learning_rate: float = 1e-4
    steps_per_report: int = 250
    steps_per_eval: int = 500
    qat_enable: bool = True
    qat_bits: int = 4
    qat_group_size: int = 64
    qat_start_step: int = 1
    qat_interval: int = 1


def _symmetric_fake_quantize_tensor(x, bits: int, group_size: int):
    qmax = (1 << (bits - 1)) - 1
    qmin = -qmax - 1
    eps = 1e-8
    if group_size is None or group_size <= 0 or x.ndim == 0:
        max_abs = mx.maximum(mx.max(mx.abs(x)), eps)
        scale = max_abs / qmax
        return mx.clip(mx.round(x / scale), qmin, qmax) * scale
    last_dim = x.shape[-1]
    if group_size >= last_dim:
        max_abs = mx.maximum(mx.max(mx.abs(x), axis=-1, keepdims=True), eps)
        scale = max_abs / qmax
        return mx.clip(mx.round(x / scale), qmin, qmax) * scale
    num_groups = (last_dim + group_size - 1) // group_size
    pad = num_groups * group_size - last_dim
    if pad > 0:
        pad_width = [(0, 0)] * x.ndim
        pad_width[-1] = (0, pad)
        x = mx.pad(x, pad_width)
    leading = int(np.prod(x.shape[:-1])) if x.ndim > 1 else 1
    x_groups = x.reshape((leading, num_groups, group_size))
    max_abs = mx.maximum(mx.max(mx.abs(x_groups), axis=-1, keepdims=True), eps)
    scale = max_abs / qmax
    q = mx.clip(mx.round(x_groups / scale), qmin, qmax)
    x_q = (q * scale).reshape((leading, num_groups * group_size))
    if pad > 0:
        x_q = x_q[:, :last_dim]
    return x_q.reshape(x.shape[:-1] + (last_dim,))


def _install_qat_hooks(model, args: TrainArgs):
    """Patch nn.Linear with an STE fake-quantize hook in its forward pass."""
    bits, gs = args.qat_bits, args.qat_group_size
    seen: set = set()

    def _patch(_, module):
        if not isinstance(module, nn.Linear):
            return
        cls = type(module)
        if cls in seen:
            return
        seen.add(cls)
        _orig = cls.__call__

        def _qat_fwd(self, x):
            w = self.weight
            # STE: forward = quantized weight, backward = identity
            self.weight = w + mx.stop_gradient(
                _symmetric_fake_quantize_tensor(w, bits, gs) - w
            )
            out = _orig(self, x)
            self.weight = w  # restore so the optimizer sees full-precision weights
            return out

        cls.__call__ = _qat_fwd

    model.apply_to_modules(_patch)


# ---------------------------------------------------------------- data
rng = np.random.default_rng(0)
D_IN = 16
W_true = rng.standard_normal((D_IN, 4)).astype(np.float32)


def make(n):
    x = rng.standard_normal((n, D_IN)).astype(np.float32)
    y = np.tanh(x @ W_true / 3) + 0.3 * np.sin(x[:, :4] * 2) + 0.05 * rng.standard_normal((n, 4))
    return x, y.astype(np.float32)


x_tr, y_tr = make(4096)
x_va, y_va = make(512)


class Regressor(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(D_IN, 128)
        self.l2 = nn.Linear(128, 128)
        self.out = nn.Linear(128, 4)

    def __call__(self, x):
        return self.out(nn.silu(self.l2(nn.silu(self.l1(x)))))


def loss_fn(model, x, y):
    return nn.losses.mse_loss(model(x), y)


def evaluate(model):
    return loss_fn(model, mx.array(x_va), mx.array(y_va)).item()


def train(model, args: TrainArgs):
    opt = optim.AdamW(learning_rate=args.learning_rate, weight_decay=0.01)
    loss_value_and_grad = nn.value_and_grad(model, loss_fn)
    state = [model.state, opt.state]
    print(f"Starting training..., iters: {args.iters}")
    print(f"Iter 0: Val loss {evaluate(model):.4f}")
    losses, steps, opt_step = 0.0, 0, 0
    qat_installed = False
    tic = time.perf_counter()
    for it in range(1, args.iters + 1):
        idx = rng.integers(0, len(x_tr), args.batch_size)
        lvalue, grad = loss_value_and_grad(model, mx.array(x_tr[idx]), mx.array(y_tr[idx]))
        opt.update(model, grad)
        opt_step += 1

        if args.qat_enable and not qat_installed and opt_step >= args.qat_start_step:
            _install_qat_hooks(model, args)
            qat_installed = True

        losses += lvalue.item()
        steps += 1
        mx.eval(state)
        if it % args.steps_per_report == 0:
            print(f"Iter {it}: Train loss {losses / steps:.4f}, "
                  f"Learning Rate {args.learning_rate:.3e}, "
                  f"It/sec {steps / (time.perf_counter() - tic):.1f}")
            losses, steps, tic = 0.0, 0, time.perf_counter()
        if it % args.steps_per_eval == 0:
            print(f"Iter {it}: Val loss {evaluate(model):.4f}")


mx.random.seed(0)
model = Regressor()
mx.eval(model.parameters())
train(model, TrainArgs())
