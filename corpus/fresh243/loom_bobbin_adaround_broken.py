"""Block-wise AdaRound for a small MLP block (W4 weights), MLX.

Learns per-weight rounding offsets (alpha) so that the 4-bit block reproduces
the float block's outputs on cached calibration activations, then hard-rounds.
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(0)
np.random.seed(0)

BITS = 4
QMAX = 2 ** (BITS - 1) - 1
SEQ, HID, FF = 64, 64, 128
N_SAMPLES = 32
BATCH = 4
N_ITERS = 1000
LR = 1e-2

_GAMMA: float = -0.1
_ZETA: float = 1.1
_ROUND_WEIGHT: float = 0.01


def _rectified_sigmoid(alpha):
    return mx.clip((_ZETA - _GAMMA) * mx.sigmoid(alpha) + _GAMMA, 0.0, 1.0)


def _init_alpha(W_fp, scales):
    rest = W_fp / scales - np.floor(W_fp / scales)
    rest = np.clip(rest, 1e-6, 1.0 - 1e-6)
    return -np.log((_ZETA - _GAMMA) / (rest - _GAMMA) - 1.0).astype(np.float32)


def _round_loss(alphas, b):
    total = mx.array(0.0)
    for alpha in alphas:
        r = _rectified_sigmoid(alpha)
        total = total + (1.0 - (mx.abs(r - 0.5) * 2.0) ** b).sum()
    return total


class _LinearTempDecay:
    def __init__(self, t_max, warm_up=0.2, start_b=20.0, end_b=2.0):
        self.start_decay = int(warm_up * t_max)
        self.t_max = t_max
        self.start_b = start_b
        self.end_b = end_b

    def __call__(self, t):
        if t < self.start_decay:
            return self.start_b
        if t >= self.t_max:
            return self.end_b
        frac = 1.0 - (t - self.start_decay) / (self.t_max - self.start_decay)
        return self.end_b + (self.start_b - self.end_b) * frac


class QuantProxy(nn.Module):
    """Soft-quantized linear: w = (floor(W/s) + h(alpha)) * s."""

    def __init__(self, W_fp, bias):
        super().__init__()
        scales = np.abs(W_fp).max(axis=1, keepdims=True) / QMAX
        floor_w = np.floor(W_fp / scales)
        self.alpha = mx.array(_init_alpha(W_fp, scales))
        self._scales = mx.array(scales.astype(np.float32))
        self._floor_w = mx.array(floor_w.astype(np.float32))
        self._bias = mx.array(bias)
        self._W_fp = W_fp
        self._mode = "soft"

    def weight(self):
        if self._mode == "soft":
            r = _rectified_sigmoid(self.alpha)
        elif self._mode == "hard":
            r = (self.alpha > 0).astype(mx.float32)
        else:  # nearest
            r = mx.round(mx.array(self._W_fp) / self._scales) - self._floor_w
        w_int = mx.clip(self._floor_w + r, -QMAX - 1, QMAX)
        return w_int * self._scales

    def __call__(self, x):
        return x @ self.weight().T + self._bias


class Block(nn.Module):
    def __init__(self, fc1, fc2):
        super().__init__()
        self.fc1 = fc1
        self.fc2 = fc2

    def __call__(self, x):
        return x + self.fc2(nn.gelu(self.fc1(x)))


# ---- float block and calibration cache ----
ref = Block(nn.Linear(HID, FF), nn.Linear(FF, HID))
mx.eval(ref.parameters())
calib_in = [8.0 * mx.random.normal((SEQ, HID)) for _ in range(N_SAMPLES)]
calib_out = [ref(x) for x in calib_in]
mx.eval(calib_in, calib_out)

np_p = lambda a: np.array(a, dtype=np.float32)
block = Block(
    QuantProxy(np_p(ref.fc1.weight), np_p(ref.fc1.bias)),
    QuantProxy(np_p(ref.fc2.weight), np_p(ref.fc2.bias)),
)
block.freeze()
block.fc1.unfreeze(keys=["alpha"])
block.fc2.unfreeze(keys=["alpha"])
proxies = [block.fc1, block.fc2]
n_w = sum(p.alpha.size for p in proxies)
print(f"block: {n_w} weights quantised to {BITS} bits, {N_SAMPLES} calibration samples")


def eval_mse(mode):
    for p in proxies:
        p._mode = mode
    errs = [mx.mean((block(x) - y) ** 2).item() for x, y in zip(calib_in, calib_out)]
    for p in proxies:
        p._mode = "soft"
    return float(np.mean(errs))


def frac_binary():
    h = mx.concatenate([_rectified_sigmoid(p.alpha).reshape(-1) for p in proxies])
    return float(mx.mean((h < 0.01) | (h > 0.99)).item())


rtn = eval_mse("nearest")
print(f"round-to-nearest  mse={rtn:.6f}")
print(f"initial soft      mse={eval_mse('soft'):.6f}  binary={frac_binary():.3f}")

optimizer = optim.Adam(learning_rate=LR)
b_schedule = _LinearTempDecay(t_max=N_ITERS, warm_up=0.2, start_b=20.0, end_b=2.0)
current_b = [b_schedule(0)]


def loss_fn(block_ref):
    batch_idx = np.random.randint(0, N_SAMPLES, size=BATCH)
    total_loss = mx.array(0.0)
    for si in batch_idx:
        pred = block_ref(calib_in[si]).astype(mx.float32)
        # lp_loss: sum over (seq, hidden), mean over batch
        total_loss = total_loss + (pred - calib_out[si]).reshape(-1).square().sum()
    rec_loss = total_loss / BATCH
    r_loss = _round_loss([p.alpha for p in proxies], current_b[0])
    return rec_loss + _ROUND_WEIGHT * r_loss


loss_and_grad = nn.value_and_grad(block, loss_fn)

t0 = time.time()
for step in range(1, N_ITERS + 1):
    loss, grads = loss_and_grad(block)
    optimizer.update(block, grads)
    mx.eval(block.parameters(), optimizer.state, loss)
    current_b[0] = b_schedule(step)
    if step == 1 or step % 100 == 0:
        print(f"step {step:5d}  loss={loss.item():.5f}  b={current_b[0]:5.2f}  "
              f"binary={frac_binary():.3f}  ({time.time() - t0:.1f}s)")

soft = eval_mse("soft")
hard = eval_mse("hard")
print(f"final soft        mse={soft:.6f}")
print(f"final hard-round  mse={hard:.6f}  (round-to-nearest {rtn:.6f})")
print(f"binarised fraction {frac_binary():.3f}")
print(f"hard/nearest ratio {hard / rtn:.3f}")
