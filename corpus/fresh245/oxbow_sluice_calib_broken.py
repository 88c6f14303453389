"""Block-wise W4A8 post-training calibration of a small residual MLP stack.

AdaRound-style learned rounding (per-channel 4-bit weights, rectified-sigmoid
rounding variables) plus an LSQ-style per-tensor 8-bit activation scale,
trained block by block against cached full-precision block outputs.
Pass A runs the learned calibration, pass B re-runs every block with
iters=0 (plain round-to-nearest) as the reference for the final table.
"""

import math
import time
from typing import Dict, List, Optional

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

ZETA = 1.1
GAMMA = -0.1
ROUND_WEIGHT = 0.01
LP_NORM = 2.0

N_BLOCKS = 3
DIM = 48
HIDDEN = 96
N_CALIB = 512
N_EVAL = 256
BATCH = 64


# ---------------------------------------------------------------------------
# Quantisation primitives
# ---------------------------------------------------------------------------

def rectified_sigmoid(alpha: mx.array) -> mx.array:
    return mx.clip((ZETA - GAMMA) * mx.sigmoid(alpha) + GAMMA, 0.0, 1.0)


def compute_per_channel_scale(W_np: np.ndarray, bits: int = 4) -> np.ndarray:
    qmax = 2 ** (bits - 1) - 1
    absmax = np.abs(W_np).max(axis=1, keepdims=True)
    return np.maximum(absmax / qmax, 1e-8)


def init_alpha(W_np: np.ndarray, scale_np: np.ndarray) -> np.ndarray:
    rest = W_np / scale_np - np.floor(W_np / scale_np)
    rest = np.clip(rest, 1e-6, 1.0 - 1e-6)
    return -np.log((ZETA - GAMMA) / (rest - GAMMA) - 1.0)


def fake_quant_per_tensor(x: mx.array, scale: mx.array, qmin: int, qmax: int) -> mx.array:
    s = mx.abs(scale) + 1e-8
    return mx.clip(mx.round(x / s), qmin, qmax) * s


class TempDecay:
    def __init__(self, t_max: int, warmup: float = 0.2, start_b: float = 20.0, end_b: float = 2.0):
        self.t_max = t_max
        self.start_decay = warmup * t_max
        self.start_b = start_b
        self.end_b = end_b

    def __call__(self, t: int) -> float:
        if t < self.start_decay:
            return self.start_b
        rel = (t - self.start_decay) / max(1.0, self.t_max - self.start_decay)
        return self.end_b + (self.start_b - self.end_b) * max(0.0, 1.0 - rel)


# ---------------------------------------------------------------------------
# Model: residual MLP blocks
# ---------------------------------------------------------------------------

class Block(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def __call__(self, x, fc1=None, fc2=None):
        fc1 = fc1 or self.fc1
        fc2 = fc2 or self.fc2
        return x + fc2(nn.gelu(fc1(self.norm(x))))


class QuantProxy:
    def __init__(self, linear: nn.Linear, soft_w: mx.array, a_scale: mx.array, qmin_a: int, qmax_a: int):
        self.bias = linear.bias
        self.soft_w = soft_w
        self.a_scale = a_scale
        self.qmin_a = qmin_a
        self.qmax_a = qmax_a

    def __call__(self, x):
        xq = fake_quant_per_tensor(x, self.a_scale, self.qmin_a, self.qmax_a)
        return xq @ self.soft_w.T + self.bias


class AdaRoundParams(nn.Module):
    def __init__(self, W_fps_np: List[np.ndarray], a_inits: List[float], bits_w: int = 4, bits_a: int = 8):
        super().__init__()
        self.bits_w = bits_w
        self.bits_a = bits_a
        self.qmin_w = -(2 ** (bits_w - 1))
        self.qmax_w = 2 ** (bits_w - 1) - 1
        self.qmin_a = -(2 ** (bits_a - 1))
        self.qmax_a = 2 ** (bits_a - 1) - 1
        self.alphas = [
            mx.array(init_alpha(W, compute_per_channel_scale(W, bits_w)).astype(np.float32))
            for W in W_fps_np
        ]
        self.a_scales = [mx.array([a], dtype=mx.float32) for a in a_inits]


def _lp_loss(pred: mx.array, tgt: mx.array, p: float = 2.0) -> mx.array:
    return ((pred - tgt).abs() ** p).sum(axis=1).mean()


def _round_loss(alphas: List[mx.array], b: float) -> mx.array:
    total = mx.array(0.0)
    for alpha in alphas:
        r = rectified_sigmoid(alpha)
        total = total + (1.0 - ((r - 0.5).abs() * 2.0) ** b).sum()
    return total


def soft_weights(params: AdaRoundParams, W_fps_np, w_scales_np):
    out = []
    for i in range(len(W_fps_np)):
        W = mx.array(W_fps_np[i])
        s = mx.array(w_scales_np[i])
        r = rectified_sigmoid(params.alphas[i])
        out.append(mx.clip(mx.floor(W / s) + r, params.qmin_w, params.qmax_w) * s)
    return out


def block_loss_fn(params, block, W_fps_np, w_scales_np, x, y_fp, b_val):
    sw = soft_weights(params, W_fps_np, w_scales_np)
    p1 = QuantProxy(block.fc1, sw[0], params.a_scales[0], params.qmin_a, params.qmax_a)
    p2 = QuantProxy(block.fc2, sw[1], params.a_scales[1], params.qmin_a, params.qmax_a)
    out = block(x, p1, p2)
    rec = _lp_loss(out, y_fp, LP_NORM)
    return rec + ROUND_WEIGHT * _round_loss(params.alphas, b_val)


def finalize_block(params, W_fps_np, w_scales_np):
    hard = []
    for i in range(len(W_fps_np)):
        W = mx.array(W_fps_np[i])
        s = mx.array(w_scales_np[i])
        delta = (params.alphas[i] >= 0).astype(mx.float32)
        hard.append(mx.clip(mx.floor(W / s) + delta, params.qmin_w, params.qmax_w) * s)
    return hard


def quantised_forward(block, params, hard_w, x):
    p1 = QuantProxy(block.fc1, hard_w[0], params.a_scales[0], params.qmin_a, params.qmax_a)
    p2 = QuantProxy(block.fc2, hard_w[1], params.a_scales[1], params.qmin_a, params.qmax_a)
    return block(x, p1, p2)


# ---------------------------------------------------------------------------
# Per-block optimisation
# ---------------------------------------------------------------------------

def optimize_block(block, block_name, x_in, y_fp, iters, w_lr=3e-3, a_lr=1e-3, batch_size=BATCH, seed=0):
    W_fps_np = [np.array(block.fc1.weight), np.array(block.fc2.weight)]
    w_scales_np = [compute_per_channel_scale(W, 4) for W in W_fps_np]
    # activation scale init from observed absmax of each linear's input
    h1 = block.norm(x_in)
    h2 = nn.gelu(block.fc1(h1))
    a_inits = [float(mx.abs(h1).max()) / 127.0, float(mx.abs(h2).max()) / 127.0]
    params = AdaRoundParams(W_fps_np, a_inits)

    w_opt = optim.Adam(learning_rate=w_lr)
    a_opt = optim.Adam(learning_rate=a_lr)
    loss_and_grad_fn = nn.value_and_grad(params, block_loss_fn)
    temp = TempDecay(iters)
    rng = np.random.default_rng(seed)

    loss_history: List[float] = []
    for step in range(iters):
        b_val = temp(step)
        idx = mx.array(rng.choice(x_in.shape[0], size=batch_size, replace=False))
        loss, grads = loss_and_grad_fn(params, block, W_fps_np, w_scales_np, x_in[idx], y_fp[idx], b_val)
        a_grads = [mx.clip(g, -1.0, 1.0) for g in grads["a_scales"]]
        cos_factor = 0.5 * (1.0 + math.cos(math.pi * step / iters))
        w_opt.update(params, {"alphas": grads["alphas"]})
        a_opt.update(params, {"a_scales": [g * cos_factor for g in a_grads]})
        mx.eval(params.parameters(), w_opt.state, a_opt.state, loss)
        loss_history.append(loss.item())
        if step % 100 == 0 or step == iters - 1:
            print(f"  {block_name} iter {step}/{iters}  loss={loss_history[-1]:.4f}  b={b_val:.1f}", flush=True)

    metrics = {
        "block_name": block_name,
        "iters": iters,
        "initial_loss": loss_history[0] if loss_history else None,
        "final_loss": loss_history[-1] if loss_history else None,
        "min_loss": min(loss_history) if loss_history else None,
        "refined": False,
    }
    hard_w = finalize_block(params, W_fps_np, w_scales_np)
    return params, hard_w, metrics


def run_pass(blocks, x_calib, x_eval, iters, tag):
    print(f"== pass {tag}: iters={iters}")
    t0 = time.time()
    h_calib = x_calib
    h_eval_fp = x_eval
    h_eval_q = x_eval
    block_mse = {}
    for bi, block in enumerate(blocks):
        block_name = f"blocks.{bi}"
        y_fp = block(h_calib)
        mx.eval(y_fp)
        params, hard_w, metrics = optimize_block(block, block_name, h_calib, y_fp, iters, seed=bi)

        if metrics.get("refined") and metrics["initial_loss"] is not None:
            improvement = metrics["initial_loss"] - metrics["final_loss"]
            pct = 100 * improvement / metrics["initial_loss"] if metrics["initial_loss"] > 0 else 0
            print(
                f"  {block_name} done — loss: {metrics['initial_loss']:.1f} → {metrics['final_loss']:.1f} "
                f"({pct:+.1f}%){' (converged)' if abs(pct) < 0.5 else ''}"
            )
        else:
            print(f"  {block_name} done — final_loss={metrics['final_loss']:.4f}")

        # per-block error on held-out inputs (same FP input for both)
        y_eval_fp = block(h_eval_fp)
        y_eval_q = quantised_forward(block, params, hard_w, h_eval_fp)
        block_mse[block_name] = float(mx.mean((y_eval_q - y_eval_fp) ** 2))
        # propagate the fully quantised stack for the end-to-end number
        h_eval_q = quantised_forward(block, params, hard_w, h_eval_q)
        h_eval_fp = y_eval_fp
        h_calib = y_fp
    e2e = float(mx.mean((h_eval_q - h_eval_fp) ** 2))
    print(f"  pass {tag} finished in {time.time() - t0:.1f}s, end-to-end mse={e2e:.5f}")
    return block_mse, e2e


def main():
    mx.random.seed(7)
    np.random.seed(7)
    blocks = [Block(DIM, HIDDEN) for _ in range(N_BLOCKS)]
    for b in blocks:
        mx.eval(b.parameters())
    # calibration activations: correlated features with a few large channels
    mix = mx.random.normal((DIM, DIM)) / math.sqrt(DIM)
    gain = mx.ones((DIM,)).at[:4].multiply(6.0)
    x_calib = (mx.random.normal((N_CALIB, DIM)) @ mix) * gain
    x_eval = (mx.random.normal((N_EVAL, DIM)) @ mix) * gain
    mx.eval(x_calib, x_eval)
    print(f"calibration set {N_CALIB}x{DIM}, held-out {N_EVAL}x{DIM}, {N_BLOCKS} blocks, W4A8")

    ada_mse, ada_e2e = run_pass(blocks, x_calib, x_eval, iters=400, tag="A (learned rounding)")
    rtn_mse, rtn_e2e = run_pass(blocks, x_calib, x_eval, iters=0, tag="B (round-to-nearest)")

    print("block      rtn_mse    learned_mse")
    for name in ada_mse:
        print(f"{name:<10} {rtn_mse[name]:.6f}   {ada_mse[name]:.6f}")
    print(f"end-to-end {rtn_e2e:.6f}   {ada_e2e:.6f}")


if __name__ == "__main__":
    main()
