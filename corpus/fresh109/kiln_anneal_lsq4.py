"""Glass-studio annealing kiln: will a blown piece come out sound, strained or cracked?

We want the classifier to run on the kiln controller's little 4-bit MAC unit, so the
hidden layers are trained quantisation-aware with LSQ (learned step size) fake-quant.

Segment A: ordinary float training, the quantiser step sizes are frozen (not used yet).
Segment B: quantiser switched on, step sizes initialised from the weights and thawed,
           fresh Adam at a lower rate. The 4-bit model is nearly as good as the float one, so
           the loss barely moves at the switch; train CE keeps creeping down while val CE
           drifts up a little (a small network close to its noise floor).
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

QN, QP = 8, 7  # signed 4-bit grid: -8 .. 7


@mx.custom_function
def lsq_quant(w, s):
    return mx.clip(mx.round(w / s), -QN, QP) * s


@lsq_quant.vjp
def _lsq_vjp(primals, cot, out):
    w, s = primals
    v = w / s
    inside = (v >= -QN) & (v <= QP)
    dw = mx.where(inside, cot, mx.zeros_like(cot))
    ds_el = mx.where(inside, mx.round(v) - v, mx.clip(v, -QN, QP))
    gscale = 1.0 / math.sqrt(w.size * QP)
    ds = (cot * ds_el).sum() * gscale
    return dw, ds.reshape(s.shape)


class QLinear(nn.Module):
    def __init__(self, d_in, d_out):
        super().__init__()
        lim = math.sqrt(1.0 / d_in)
        self.weight = mx.random.uniform(-lim, lim, (d_out, d_in))
        self.bias = mx.zeros((d_out,))
        self.step = mx.array([1.0])
        self._quant = False

    def enable_quant(self):
        self.step = (2.0 * mx.abs(self.weight).mean() / math.sqrt(QP)).reshape(1)
        self._quant = True

    def effective_weight(self):
        return lsq_quant(self.weight, self.step) if self._quant else self.weight

    def __call__(self, x):
        return x @ self.effective_weight().T + self.bias


class CrackNet(nn.Module):
    def __init__(self, d_in=10, hidden=48, n_cls=3):
        super().__init__()
        self.q1 = QLinear(d_in, hidden)
        self.q2 = QLinear(hidden, hidden)
        self.head = nn.Linear(hidden, n_cls)

    def __call__(self, x):
        h = nn.gelu(self.q1(x))
        h = nn.gelu(self.q2(h))
        return self.head(h)

    def quant_layers(self):
        return [self.q1, self.q2]


def make_pieces(n, rng):
    x = rng.normal(size=(n, 10)).astype(np.float32)
    # 0 cooling rate, 1 wall thickness, 2 COE mismatch, 3 soak minutes, 4 colour-rod share,
    # 5 kiln age, 6..9 nuisance readings
    s_strain = 1.3 * x[:, 0] + 0.9 * x[:, 1] * x[:, 2] - 0.6 * x[:, 3]
    s_crack = 2.2 * x[:, 0] + 1.1 * x[:, 4] ** 2 - 1.6 + 0.8 * x[:, 5] + 0.5 * x[:, 1]
    logits = np.stack([np.zeros(n), s_strain, s_crack], 1)
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    u = rng.random(n)[:, None]
    y = (u > np.cumsum(p, 1)).sum(1).astype(np.int32)
    return x, np.minimum(y, 2)


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def evaluate(model, xv, yv):
    logits = model(xv)
    ce = nn.losses.cross_entropy(logits, yv, reduction="mean")
    acc = (mx.argmax(logits, axis=1) == yv).astype(mx.float32).mean()
    mx.eval(ce, acc)
    return ce.item(), 100.0 * acc.item()


def grad_audit(model, vg, x, y, tag):
    _, g = vg(model, x, y)
    flat = tree_flatten(g)
    dead = [k for k, v in flat if mx.abs(v).max().item() == 0.0]
    print(f"KILN  {tag}  | grad audit: {len(flat)} trainable arrays, zero-gradient: {dead or 'none'}")


def run_segment(tag, model, opt, xtr, ytr, xv, yv, epochs, bs, rng, t0):
    vg = nn.value_and_grad(model, loss_fn)
    grad_audit(model, vg, xtr[:bs], ytr[:bs], tag)
    n = xtr.shape[0]
    for ep in range(1, epochs + 1):
        perm = rng.permutation(n)
        tot, cnt = 0.0, 0
        for i in range(0, n - bs + 1, bs):
            idx = mx.array(perm[i:i + bs])
            loss, g = vg(model, xtr[idx], ytr[idx])
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
            cnt += 1
        vce, vacc = evaluate(model, xv, yv)
        steps = " ".join(f"{l.step.item():.4f}" for l in model.quant_layers())
        print(f"KILN  {tag}  | ep {ep:2d} | train ce {tot / cnt:.4f} | val ce {vce:.4f} "
              f"| val acc {vacc:5.1f}% | step sizes {steps} | t+{time.time() - t0:5.1f}s")


def main():
    mx.random.seed(3)
    rng = np.random.default_rng(3)
    xtr_np, ytr_np = make_pieces(6000, rng)
    xv_np, yv_np = make_pieces(1500, rng)
    mu, sd = xtr_np.mean(0), xtr_np.std(0)
    xtr = mx.array((xtr_np - mu) / sd)
    xv = mx.array((xv_np - mu) / sd)
    ytr, yv = mx.array(ytr_np), mx.array(yv_np)
    shares = np.bincount(ytr_np, minlength=3) / len(ytr_np)
    prior_ce = float(-(shares * np.log(shares)).sum())
    print(f"KILN  ---- | pieces train {len(ytr_np)} val {len(yv_np)} | sound/strain/cracked "
          f"{shares[0]:.2f}/{shares[1]:.2f}/{shares[2]:.2f} | prior ce {prior_ce:.4f}")

    model = CrackNet()
    model.freeze(keys=["step"])  # quantiser scales unused in segment A
    steps_before = [l.step for l in model.quant_layers()]
    mx.eval(model.parameters())
    n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    print(f"KILN  ---- | CrackNet trainable {n_train} | float weights, quantiser off")
    vce, vacc = evaluate(model, xv, yv)
    print(f"KILN  init | val ce {vce:.4f} | val acc {vacc:5.1f}%")

    t0 = time.time()
    opt_a = optim.Adam(learning_rate=3e-3)
    run_segment("SEG A", model, opt_a, xtr, ytr, xv, yv, 6, 100, rng, t0)
    drift = max(mx.abs(a - l.step).max().item() for a, l in zip(steps_before, model.quant_layers()))
    print(f"KILN  ---- | frozen step sizes moved by {drift:.1e} during segment A")

    for l in model.quant_layers():
        l.enable_quant()
    model.unfreeze(keys=["step"])
    vce, vacc = evaluate(model, xv, yv)
    print(f"KILN  ---- | 4-bit fake-quant ON (LSQ) | val ce {vce:.4f} | val acc {vacc:5.1f}% right after the switch")
    opt_b = optim.Adam(learning_rate=1e-3)
    run_segment("SEG B", model, opt_b, xtr, ytr, xv, yv, 6, 100, rng, t0)

    clipped = []
    levels = []
    for l in model.quant_layers():
        v = l.weight / l.step
        clipped.append(100.0 * ((v < -QN) | (v > QP)).astype(mx.float32).mean().item())
        levels.append(len(np.unique(np.array(mx.clip(mx.round(v), -QN, QP)))))
    print(f"KILN  done | weights on the 4-bit grid: levels used {levels}, "
          f"clipped {clipped[0]:.1f}% / {clipped[1]:.1f}% | total {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
