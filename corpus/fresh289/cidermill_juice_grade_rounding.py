"""Cider mill: grade pressed juice lots (4 grades) from 10 lab readings, then
ship the grader with 2-bit hidden layers.  The float grader is trained first;
the 2-bit weights are then chosen layer by layer with learned up/down rounding
(AdaRound-style) against the float layer outputs, and compared with plain
round-to-nearest and with nn.quantize at the same bit width."""
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

BITS = [2, 2, 8]                # hidden layers at 2 bits, the 4-way head at 8 bits
FEATS = ["brix", "acid", "tannin", "pH", "turbidity", "press_bar",
         "mash_min", "yeast_cfu", "temp_c", "sulphite"]

# ---------------- synthetic juice lots ----------------
rng = np.random.default_rng(7)


def make_lots(n):
    x = rng.normal(size=(n, len(FEATS))).astype(np.float32)
    score = (1.1 * x[:, 0] - 0.8 * x[:, 1] + 0.6 * np.tanh(2 * x[:, 2])
             + 0.5 * x[:, 3] * x[:, 4] - 0.7 * np.abs(x[:, 5])
             + 0.4 * np.sin(2 * x[:, 6]) + 0.3 * x[:, 7] - 0.3 * x[:, 8] ** 2
             + 0.25 * rng.normal(size=n))
    cuts = np.quantile(score, [0.25, 0.5, 0.75]) if not hasattr(make_lots, "c") else make_lots.c
    make_lots.c = cuts
    y = np.digitize(score, cuts).astype(np.int32)
    return x, y


x_tr, y_tr = make_lots(12000)
x_ca, y_ca = make_lots(1024)       # calibration lots (labels unused below)
x_te, y_te = make_lots(3000)
Xtr, Ytr = mx.array(x_tr), mx.array(y_tr)
Xca = mx.array(x_ca)
Xte, Yte = mx.array(x_te), mx.array(y_te)
print(f"lots: train {len(y_tr)}  calib {len(x_ca)}  test {len(y_te)}  "
      f"grade shares {np.bincount(y_tr) / len(y_tr)}")


class Grader(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(10, 96)
        self.l2 = nn.Linear(96, 96)
        self.l3 = nn.Linear(96, 4)

    def __call__(self, x):
        h = nn.relu(self.l1(x))
        h = nn.relu(self.l2(h))
        return self.l3(h)


def accuracy(model, X, Y):
    return float(mx.mean(mx.argmax(model(X), axis=1) == Y).item()) * 100


# ---------------- stage 0: float grader (quiet) ----------------
mx.random.seed(3)
model = Grader()
opt = optim.Adam(learning_rate=2e-3)


def ce_loss(m, x, y):
    return mx.mean(nn.losses.cross_entropy(m(x), y))


ce_grad = nn.value_and_grad(model, ce_loss)
t0 = time.time()
for ep in range(8):
    perm = np.random.default_rng(ep).permutation(len(y_tr))
    for i in range(0, len(perm), 256):
        idx = mx.array(perm[i:i + 256])
        loss, g = ce_grad(model, Xtr[idx], Ytr[idx])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
model.eval()
float_acc = accuracy(model, Xte, Yte)
print(f"float grader: 8 epochs in {time.time() - t0:.1f}s, final batch CE {loss.item():.3f}, "
      f"test acc {float_acc:.2f}%")

# ---------------- baselines at 2 bits ----------------
layers = [model.l1, model.l2, model.l3]
QMIN = [-(2 ** (b - 1)) for b in BITS]
QMAX = [2 ** (b - 1) - 1 for b in BITS]
scales = [mx.max(mx.abs(L.weight), axis=1, keepdims=True) / q for L, q in zip(layers, QMAX)]


def rtn(w, s, k):
    return mx.clip(mx.round(w / s), QMIN[k], QMAX[k]) * s


class Frozen(nn.Module):
    """The grader with constant (dequantized) weight matrices."""

    def __init__(self, ws, bs):
        super().__init__()
        self.ws, self.bs = ws, bs

    def __call__(self, x):
        h = x
        for i, (w, b) in enumerate(zip(self.ws, self.bs)):
            h = h @ w.T + b
            if i < 2:
                h = nn.relu(h)
        return h


biases = [L.bias for L in layers]
rtn_model = Frozen([rtn(L.weight, s, k) for k, (L, s) in enumerate(zip(layers, scales))], biases)
rtn_acc = accuracy(rtn_model, Xte, Yte)

packed = Grader()
packed.update(model.parameters())
nn.quantize(packed, class_predicate=lambda p, m: {"l2": {"group_size": 32, "bits": 2},
                                                   "l3": {"group_size": 32, "bits": 8}}.get(p, False))
packed_acc = accuracy(packed, Xte, Yte)
print(f"round-to-nearest (per-row scale, bits {BITS}): test acc {rtn_acc:.2f}%   "
      f"nn.quantize(l2 2-bit, l3 8-bit, group 32, l1 kept float): {packed_acc:.2f}%")


# ---------------- stages 1-3: learned rounding, one layer at a time ----------------
ZETA, GAMMA = 1.1, -0.1


def rect_sigmoid(v):
    return mx.clip(mx.sigmoid(v) * (ZETA - GAMMA) + GAMMA, 0.0, 1.0)


class SoftRound(nn.Module):
    def __init__(self, w, s, k):
        super().__init__()
        self.k = k
        self.floor_w = mx.floor(w / s)
        self.s = s
        rest = w / s - self.floor_w
        # start each V so that rect_sigmoid(V) equals the fractional part
        p = mx.clip((rest - GAMMA) / (ZETA - GAMMA), 1e-4, 1 - 1e-4)
        self.V = mx.log(p) - mx.log1p(-p)

    def weight(self, hard=False):
        h = (self.V >= 0).astype(mx.float32) if hard else rect_sigmoid(self.V)
        return mx.clip(self.floor_w + h, QMIN[self.k], QMAX[self.k]) * self.s


ITERS, WARM = 600, 120
lam = 0.01
done_ws = []
for k, L in enumerate(layers[:2]):
    # inputs come from the already-rounded layers; targets are the float outputs
    h_q, h_f = Xca, Xca
    for j in range(k):
        h_q = nn.relu(h_q @ done_ws[j].T + biases[j])
        h_f = nn.relu(layers[j](h_f))
    target = L(h_f)
    sr = SoftRound(L.weight, scales[k], k)
    sr.freeze()
    sr.unfreeze(keys=["V"])
    ropt = optim.Adam(learning_rate=2e-2)
    rtn_mse = float(mx.mean((h_q @ rtn(L.weight, scales[k], k).T + biases[k] - target) ** 2).item())

    def objective(m, x, t, beta, use_reg):
        w = m.weight()
        rec = mx.mean((x @ w.T + biases[k] - t) ** 2)
        h = rect_sigmoid(m.V)
        reg = mx.sum(1 - mx.abs(2 * h - 1) ** beta) * use_reg
        return rec + lam * reg / h.size * 100, (rec, reg)

    step = nn.value_and_grad(sr, objective)
    print(f"--- stage {k + 1}/2: layer l{k + 1} at {BITS[k]} bits, weights {L.weight.shape}  round-to-nearest recon {rtn_mse:.5f}")
    print(f"{'it':>5} {'beta':>6} {'total':>9} {'recon':>9} {'reg':>9} {'undecided%':>11}")
    for it in range(1, ITERS + 1):
        if it <= WARM:
            beta, use_reg = 20.0, 0.0
        else:
            frac = (it - WARM) / (ITERS - WARM)
            beta, use_reg = 2.0 + 0.5 * (20.0 - 2.0) * (1 + np.cos(frac * np.pi)), 1.0
        idx = mx.array(np.random.default_rng(1000 * k + it).integers(0, len(x_ca), 256))
        (tot, (rec, reg)), g = step(sr, h_q[idx], target[idx], beta, use_reg)
        ropt.update(sr, g)
        mx.eval(sr.parameters(), ropt.state, tot)
        if it % 120 == 0 or it == 1:
            h = rect_sigmoid(sr.V)
            undecided = float(mx.mean((h > 0.01) & (h < 0.99)).item()) * 100
            print(f"{it:>5} {beta:>6.2f} {tot.item():>9.5f} {rec.item():>9.5f} "
                  f"{reg.item():>9.1f} {undecided:>10.1f}%")
    w_hard = sr.weight(hard=True)
    hard_mse = float(mx.mean((h_q @ w_hard.T + biases[k] - target) ** 2).item())
    flips = float(mx.mean(mx.abs(w_hard - rtn(L.weight, scales[k], k)) > 1e-6).item()) * 100
    print(f"    hardened recon {hard_mse:.5f} (round-to-nearest {rtn_mse:.5f}); "
          f"{flips:.1f}% of weights rounded the other way")
    done_ws.append(w_hard)

done_ws.append(rtn(model.l3.weight, scales[2], 2))
print("--- head l3: plain 8-bit round-to-nearest")
ada_model = Frozen(done_ws, biases)
ada_acc = accuracy(ada_model, Xte, Yte)
grid_ok = all(bool(mx.all(mx.abs(w / s - mx.round(w / s)) < 1e-3).item())
              and len(np.unique(np.array(mx.round(w / s)))) <= 2 ** b
              for w, s, b in zip(done_ws, scales, BITS))
f_pred = mx.argmax(model(Xte), axis=1)
agree = {n: float(mx.mean(mx.argmax(m(Xte), axis=1) == f_pred).item()) * 100
         for n, m in [("rtn", rtn_model), ("packed", packed), ("ada", ada_model)]}
print(f"test accuracy  float {float_acc:.2f}%  | round-to-nearest {rtn_acc:.2f}%  | "
      f"nn.quantize {packed_acc:.2f}%  | learned rounding {ada_acc:.2f}%")
print(f"agreement with the float grader  RTN {agree['rtn']:.1f}%  nn.quantize {agree['packed']:.1f}%  "
      f"learned rounding {agree['ada']:.1f}%")
print(f"shipped weights on their grids (2/2/8 bits): {grid_ok}")
