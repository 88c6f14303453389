# W4A8 post-training calibration of a small projector block:
# SmoothQuant per-channel migration, then AdaRound (learned rounding, annealed
# round loss) with a learnable per-tensor activation step (LSQ-style).
# Quantized weights are written to an npz and the deployed block is rebuilt
# from that file and checked against the float block.
import tempfile
import time
from pathlib import Path

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

ZETA, GAMMA = 1.1, -0.1
ROUND_WEIGHT = 0.001
LP_NORM = 2.0
BITS_W, BITS_A = 4, 8
QMIN_A, QMAX_A = -(2 ** (BITS_A - 1)), 2 ** (BITS_A - 1) - 1
ITERS = 600
BATCH = 64
D_IN, D_HID, D_OUT, N_CLS = 64, 128, 64, 10

mx.random.seed(7)
rng = np.random.default_rng(7)


class Projector(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(D_IN, D_HID)
        self.fc2 = nn.Linear(D_HID, D_OUT)

    def __call__(self, x):
        return self.fc2(nn.gelu(self.fc1(x)))


# ---------------------------------------------------------------------------
# synthetic token features with a few large-magnitude channels
# ---------------------------------------------------------------------------
gain = np.ones(D_IN, dtype=np.float32)
gain[[3, 17, 40, 58]] = [24.0, 18.0, 30.0, 12.0]


def sample_tokens(n):
    z = rng.standard_normal((n, D_IN)).astype(np.float32)
    return mx.array(z * gain)


block = Projector()
head = nn.Linear(D_OUT, N_CLS)      # frozen downstream readout, used for agreement
mx.eval(block.parameters(), head.parameters())

calib_x = sample_tokens(2048)
test_x = sample_tokens(4096)
calib_y = block(calib_x)
test_y = block(test_x)
mx.eval(calib_y, test_y)


# ---------------------------------------------------------------------------
# quantisation primitives
# ---------------------------------------------------------------------------
def rectified_sigmoid(alpha):
    return mx.clip((ZETA - GAMMA) * mx.sigmoid(alpha) + GAMMA, 0.0, 1.0)


def compute_per_channel_scale(W_np, bits=4):
    qmax = 2 ** (bits - 1) - 1
    absmax = np.abs(W_np).max(axis=1, keepdims=True)
    return np.maximum(absmax / qmax, 1e-8)


def init_alpha(W_np, scale_np):
    rest = W_np / scale_np - np.floor(W_np / scale_np)
    rest = np.clip(rest, 1e-6, 1.0 - 1e-6)
    return -np.log((ZETA - GAMMA) / (rest - GAMMA) - 1.0)


def fake_quant_per_tensor(x, scale, qmin, qmax):
    s = mx.abs(scale) + 1e-8
    v = x / s
    v = v + mx.stop_gradient(mx.round(v) - v)
    return mx.clip(v, qmin, qmax) * s


class LinearTempDecay:
    def __init__(self, t_max, warm_up=0.2, start_b=20.0, end_b=2.0):
        self.t_max = t_max
        self.start_decay = int(warm_up * t_max)
        self.start_b = start_b
        self.end_b = end_b

    def __call__(self, t):
        if t < self.start_decay:
            return self.start_b
        if t >= self.t_max:
            return self.end_b
        rel = (t - self.start_decay) / (self.t_max - self.start_decay)
        return self.end_b + (self.start_b - self.end_b) * max(0.0, 1.0 - rel)


class AdaRoundParams(nn.Module):
    def __init__(self, W_fps_np, a_init, bits_w=4, bits_a=8):
        super().__init__()
        self.bits_w = bits_w
        self.bits_a = bits_a
        self.qmin_w = -(2 ** (bits_w - 1))
        self.qmax_w = 2 ** (bits_w - 1) - 1
        self.alphas = [
            mx.array(init_alpha(W, compute_per_channel_scale(W, bits_w)))
            for W in W_fps_np
        ]
        self.a_scales = [mx.array([a]) for a in a_init]


# ---------------------------------------------------------------------------
# SmoothQuant scales from calibration activations
# ---------------------------------------------------------------------------
linear_paths = ["fc1", "fc2"]
layer_inputs = {"fc1": calib_x, "fc2": nn.gelu(block.fc1(calib_x))}
sq_scales = {"migration": 0.5, "layers": {}}
for path in linear_paths:
    act_max = np.abs(np.array(layer_inputs[path])).max(axis=0)
    w_max = np.abs(np.array(getattr(block, path).weight)).max(axis=0)
    s = np.power(act_max, 0.5) / np.power(np.maximum(w_max, 1e-5), 0.5)
    sq_scales["layers"][path] = np.maximum(s, 1e-5).astype(np.float32).tolist()

sq_list = [np.array(sq_scales["layers"][p], dtype=np.float32) for p in linear_paths]
W_fps_np = [
    np.array(getattr(block, p).weight) * sq_list[i][np.newaxis, :]
    for i, p in enumerate(linear_paths)
]
w_scales_np = [compute_per_channel_scale(W, BITS_W) for W in W_fps_np]
a_init = [
    float(np.abs(np.array(layer_inputs[p]) / sq_list[i]).max()) / QMAX_A
    for i, p in enumerate(linear_paths)
]
print(f"SmoothQuant: pre-scaled {len(linear_paths)}/{len(linear_paths)} layers, "
      f"s range fc1 [{sq_list[0].min():.2f}, {sq_list[0].max():.2f}] "
      f"fc2 [{sq_list[1].min():.2f}, {sq_list[1].max():.2f}]")

params = AdaRoundParams(W_fps_np, a_init, BITS_W, BITS_A)
W_mx = [mx.array(W) for W in W_fps_np]
S_mx = [mx.array(s) for s in w_scales_np]
SQ_mx = [mx.array(s) for s in sq_list]
biases = [block.fc1.bias, block.fc2.bias]


def quant_forward(params, x, hard=False):
    h = x
    for i in range(len(linear_paths)):
        W_floor = mx.floor(W_mx[i] / S_mx[i])
        if hard:
            r = (params.alphas[i] >= 0).astype(mx.float32)
        else:
            r = rectified_sigmoid(params.alphas[i])
        w = mx.clip(W_floor + r, params.qmin_w, params.qmax_w) * S_mx[i]
        hq = fake_quant_per_tensor(h / SQ_mx[i], params.a_scales[i], QMIN_A, QMAX_A)
        h = hq @ w.T + biases[i]
        if i == 0:
            h = nn.gelu(h)
    return h


def lp_loss(pred, tgt, p=LP_NORM):
    return (mx.abs(pred - tgt) ** p).sum(axis=1).mean()


def round_loss(alphas, b):
    total = mx.array(0.0)
    for alpha in alphas:
        r = rectified_sigmoid(alpha)
        total = total + (1.0 - (mx.abs(r - 0.5) * 2.0) ** b).sum()
    return total


def loss_fn(params, x, y, b):
    rec = lp_loss(quant_forward(params, x), y)
    rnd = round_loss(params.alphas, b)
    return rec + ROUND_WEIGHT * rnd, (rec, rnd)


def rel_err(pred, tgt):
    return float((((pred - tgt) ** 2).sum() / (tgt ** 2).sum()).item()) * 100.0


def agreement(pred, tgt):
    return float((mx.argmax(head(pred), -1) == mx.argmax(head(tgt), -1)).mean().item()) * 100.0


# round-to-nearest reference with the same smoothing and activation steps
rtn_alphas = [mx.where((W / S - mx.floor(W / S)) >= 0.5, 1.0, -1.0) for W, S in zip(W_mx, S_mx)]
rtn = AdaRoundParams(W_fps_np, a_init, BITS_W, BITS_A)
rtn.alphas = rtn_alphas
rtn_pred = quant_forward(rtn, test_x, hard=True)
print(f"round-to-nearest W4A8: test rel err {rel_err(rtn_pred, test_y):.3f}%  "
      f"head agreement {agreement(rtn_pred, test_y):.1f}%")

# ---------------------------------------------------------------------------
# AdaRound optimisation
# ---------------------------------------------------------------------------
opt = optim.MultiOptimizer(
    [optim.Adam(learning_rate=3e-4), optim.Adam(learning_rate=3e-2)],
    [lambda path, _: path.startswith("a_scales")],
)
temp = LinearTempDecay(t_max=ITERS, warm_up=0.2, start_b=20.0, end_b=2.0)
loss_and_grad = nn.value_and_grad(params, loss_fn)
tic = time.time()
for it in range(1, ITERS + 1):
    idx = mx.array(rng.integers(0, calib_x.shape[0], BATCH))
    b = temp(it)
    (loss, (rec, rnd)), grads = loss_and_grad(params, calib_x[idx], calib_y[idx], b)
    opt.update(params, grads)
    mx.eval(params.parameters(), opt.state, loss)
    if it % 75 == 0 or it == 1:
        flips = sum(int(((a >= 0) != (r >= 0)).sum().item()) for a, r in zip(params.alphas, rtn_alphas))
        print(f"iter {it:5d}  b={b:5.2f}  loss={loss.item():9.4f}  rec={rec.item():8.4f}  "
              f"round={rnd.item():9.2f}  flips_vs_rtn={flips}")
print(f"optimisation done in {time.time() - tic:.1f}s")

soft_pred = quant_forward(params, test_x)
hard_pred = quant_forward(params, test_x, hard=True)
print(f"in-loop soft W4A8: test rel err {rel_err(soft_pred, test_y):.3f}%   "
      f"hard: {rel_err(hard_pred, test_y):.3f}%")


# ---------------------------------------------------------------------------
# finalise and save, then rebuild the deployed block from disk
# ---------------------------------------------------------------------------
def finalize_block(params, W_fps_np, w_scales_np, linear_paths):
    result = {}
    for i, path in enumerate(linear_paths):
        alpha = params.alphas[i]
        W_fp_mx = mx.array(W_fps_np[i])
        s_mx = mx.array(w_scales_np[i])
        W_floor = mx.floor(W_fp_mx / s_mx)
        hard_delta = (alpha >= 0).astype(mx.float32)
        W_q_float = mx.clip(W_floor + hard_delta, params.qmin_w, params.qmax_w)
        mx.eval(W_q_float)
        result[path] = {
            "weight_int": np.array(W_q_float).astype(np.int8),
            "scale": np.array(s_mx),
            "a_scale": float(np.array(mx.abs(params.a_scales[i]))[0]),
        }
    return result


def save_block_weights(weights_dir, block, params, bits_w, sq_scales=None):
    W_fps_np = [np.array(getattr(block, p).weight) for p in linear_paths]

    if sq_scales is not None:
        sq_layer_scales = sq_scales.get("layers", {})
        for i, path in enumerate(linear_paths):
            if path in sq_layer_scales:
                s = np.array(sq_layer_scales[path], dtype=np.float32)
                W_fps_np[i] = W_fps_np[i] * s[np.newaxis, :]

    w_scales_np = [compute_per_channel_scale(W, bits_w) for W in W_fps_np]
    quant_weights = finalize_block(params, W_fps_np, w_scales_np, linear_paths)
    save_dict = {}
    for i, (path, data) in enumerate(quant_weights.items()):
        save_dict[f"{path}__weight_int"] = data["weight_int"]
        save_dict[f"{path}__scale"] = data["scale"]
        save_dict[f"{path}__a_scale"] = np.array([data["a_scale"]])
        save_dict[f"{path}__alpha"] = np.array(params.alphas[i])
    out = Path(weights_dir) / "projector.npz"
    np.savez_compressed(out, **save_dict)
    return out


def load_deployed(npz_path, block, sq_scales):
    npz = np.load(npz_path)
    layers = []
    for path in linear_paths:
        W = npz[f"{path}__weight_int"].astype(np.float32) * npz[f"{path}__scale"]
        s = np.array(sq_scales["layers"][path], dtype=np.float32)
        a = float(npz[f"{path}__a_scale"][0])
        layers.append((mx.array(W), mx.array(s), mx.array([a]), getattr(block, path).bias))

    def forward(x):
        h = x
        for i, (W, s, a, bias) in enumerate(layers):
            h = fake_quant_per_tensor(h / s, a, QMIN_A, QMAX_A) @ W.T + bias
            if i == 0:
                h = nn.gelu(h)
        return h

    return forward


with tempfile.TemporaryDirectory() as tmp:
    npz_path = save_block_weights(tmp, block, params, BITS_W, sq_scales=sq_scales)
    deployed = load_deployed(npz_path, block, sq_scales)
    dep_pred = deployed(test_x)
    mx.eval(dep_pred)
    codes = np.load(npz_path)["fc1__weight_int"]
    print(f"saved {npz_path.name}: fc1 codes in [{codes.min()}, {codes.max()}]")

print(f"deployed W4A8 from npz: test rel err {rel_err(dep_pred, test_y):.3f}%  "
      f"head agreement {agreement(dep_pred, test_y):.1f}%")
print(f"reference  round-to-nearest: rel err {rel_err(rtn_pred, test_y):.3f}%  "
      f"agreement {agreement(rtn_pred, test_y):.1f}%")
