"""Harmonica reed plates: predict how far a reed pair sits off pitch (draw note
and blow note, in cents) plus the bend offset (cents), from five bench readings
taken before final tuning.

Stage A  pre-train a small network on 6000 brass reeds (alloy A).
Stage B  new reed alloy (B, phosphor bronze): only 700 reeds.  Load the stage-A
         weights, FREEZE the trunk and fit a fresh head (linear probe).
Stage C  unfreeze everything and fine-tune with a warm-up that starts at lr 0.

Every stage runs silently and prints a markdown table when it ends.
"""
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

RNG = np.random.default_rng(7)
mx.random.seed(7)


def make_reeds(n, alloy):
    diam = RNG.uniform(0.3, 1.6, n)          # reed length, cm
    thick = RNG.uniform(0.06, 0.11, n)       # tip thickness / length
    flare = RNG.uniform(-1.0, 1.0, n)        # slot-gap index (tight .. loose)
    tin = RNG.uniform(19.0, 24.0, n)         # hardness, HV/10
    temp = RNG.uniform(5.0, 30.0, n)         # bench temperature, C
    draw = 40 * np.tanh(3 * (thick - 0.085) / 0.025) + 12 * flare ** 2 - 8 * diam
    blow = 25 * flare - 30 * (thick - 0.085) / 0.025 + 3 * (tin - 21.5)
    bend = -18 * np.sin(2.2 * flare) + 10 * diam * flare + 0.4 * (temp - 18)
    if alloy == "B":  # phosphor bronze: shifted bend and an extra draw term
        bend = bend + 15 - 6 * (tin - 21.5)
        draw = draw + 9 * diam * (thick - 0.085) / 0.025
    y = np.stack([draw, blow, bend], 1) + RNG.normal(0, 3.0, (n, 3))
    x = np.stack([diam, thick, flare, tin, temp], 1)
    return x.astype(np.float32), y.astype(np.float32)


class ReedNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(5, 64), nn.SiLU(),
                                   nn.Linear(64, 64), nn.SiLU())
        self.head = nn.Linear(64, 3)

    def __call__(self, x):
        return self.head(self.trunk(x))


def loss_fn(model, x, y):
    return nn.losses.mse_loss(model(x), y)


class Stage:
    """One training stage: owns its optimizer and its compiled step."""

    def __init__(self, name, model, opt, xs, ys, xv, yv, y_scale, steps, batch=64):
        self.name, self.model, self.opt = name, model, opt
        self.xs, self.ys, self.xv, self.yv = xs, ys, xv, yv
        self.y_scale, self.steps, self.batch = y_scale, steps, batch
        self.rows = []
        vg = nn.value_and_grad(model, loss_fn)
        state = [model.state, opt.state]

        def step(x, y):
            loss, grads = vg(model, x, y)
            opt.update(model, grads)
            return loss

        self.vg = vg
        self.step = mx.compile(step, inputs=state, outputs=state)
        self.state = state

    def val_cents(self):
        pred = self.model(self.xv) * self.y_scale
        err = np.abs(np.array(pred) - np.array(self.yv * self.y_scale))
        return err.mean(0)  # MAE per partial, cents

    def grad_audit(self):
        _, g = self.vg(self.model, self.xs[:256], self.ys[:256])
        leaves = tree_flatten(g)
        zero = [k for k, v in leaves if float(mx.abs(v).max()) == 0.0]
        return len(leaves), zero

    def run(self, report_every):
        n = self.xs.shape[0]
        order, cursor, window = RNG.permutation(n), 0, []
        t0 = time.time()
        mae = self.val_cents()
        self.rows.append((0, float("nan"), *mae, 0.0))
        for it in range(1, self.steps + 1):
            if cursor + self.batch > n:
                order, cursor = RNG.permutation(n), 0
            idx = mx.array(order[cursor:cursor + self.batch])
            cursor += self.batch
            loss = self.step(self.xs[idx], self.ys[idx])
            mx.eval(loss, self.state)
            window.append(loss.item())
            if it % report_every == 0:
                mae = self.val_cents()
                self.rows.append((it, float(np.mean(window)), *mae,
                                  time.time() - t0))
                window = []

    def table(self):
        print(f"\n### {self.name}\n")
        print("| step | train mse (std units) | draw MAE c | blow MAE c | bend MAE c | s |")
        print("|-----:|------:|------:|------:|------:|----:|")
        for r in self.rows:
            tr = "-" if np.isnan(r[1]) else f"{r[1]:.4f}"
            print(f"| {r[0]} | {tr} | {r[2]:.2f} | {r[3]:.2f} | {r[4]:.2f} | {r[5]:.1f} |")


def standardise(x, mu, sd):
    return mx.array((x - mu) / sd)


def main():
    xa, ya = make_reeds(7000, "A")
    xb, yb = make_reeds(700 + 1500, "B")
    mu, sd = xa[:6000].mean(0), xa[:6000].std(0)
    y_scale = float(ya[:6000].std())
    XA, YA = standardise(xa[:6000], mu, sd), mx.array(ya[:6000] / y_scale)
    XAv, YAv = standardise(xa[6000:], mu, sd), mx.array(ya[6000:] / y_scale)
    XB, YB = standardise(xb[:700], mu, sd), mx.array(yb[:700] / y_scale)
    XBv, YBv = standardise(xb[700:], mu, sd), mx.array(yb[700:] / y_scale)
    print("# harmonica reed bench - cents off target (draw, blow, bend)")
    print(f"alloy A: 6000 reeds train / 1000 val;  alloy B: 700 train / 1500 val;  "
          f"target scale {y_scale:.1f} cents;  noise floor 3.0 cents sd (MAE ~2.4)")

    # ---- stage A ----------------------------------------------------------
    net = ReedNet()
    mx.eval(net.parameters())
    st = Stage("stage A: pre-train on alloy A (Adam 2e-3)", net,
               optim.Adam(learning_rate=2e-3), XA, YA, XAv, YAv, y_scale, 1500)
    n_leaves, zero = st.grad_audit()
    print(f"stage A gradient audit: {n_leaves} trainable leaves, zero-gradient: {zero or 'none'}")
    st.run(report_every=300)
    st.table()
    tmp = tempfile.mkdtemp(prefix="reeds_")
    ckpt = os.path.join(tmp, "alloyA.safetensors")
    net.save_weights(ckpt)

    # ---- stage B: linear probe on alloy B ------------------------------------
    net_b = ReedNet()
    net_b.load_weights(ckpt, strict=True)
    net_b.head = nn.Linear(64, 3)           # fresh head for the new alloy
    net_b.trunk.freeze()                    # frozen on purpose
    mx.eval(net_b.parameters())
    trunk_before = {k: np.array(v) for k, v in tree_flatten(net_b.trunk.parameters())}
    print(f"\nreloaded {ckpt.split(os.sep)[-1]}; trainable now: "
          f"{sum(v.size for _, v in tree_flatten(net_b.trainable_parameters()))} of "
          f"{sum(v.size for _, v in tree_flatten(net_b.parameters()))} weights")
    st_b = Stage("stage B: linear probe on alloy B, trunk frozen (Adam 5e-3)", net_b,
                 optim.Adam(learning_rate=5e-3), XB, YB, XBv, YBv, y_scale, 600)
    n_leaves, zero = st_b.grad_audit()
    print(f"stage B gradient audit: {n_leaves} trainable leaves, zero-gradient: {zero or 'none'}")
    st_b.run(report_every=150)
    st_b.table()
    drift = max(float(np.abs(np.array(v) - trunk_before[k]).max())
                for k, v in tree_flatten(net_b.trunk.parameters()))
    print(f"\nfrozen trunk max change during stage B: {drift:.1e}")

    # ---- stage C: unfreeze and fine-tune -------------------------------------
    net_b.unfreeze()
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 1e-3, 100), optim.cosine_decay(1e-3, 700, 1e-5)],
        [100])
    st_c = Stage("stage C: full fine-tune, AdamW warm-up from lr 0", net_b,
                 optim.AdamW(learning_rate=sched, weight_decay=1e-4),
                 XB, YB, XBv, YBv, y_scale, 800)
    n_leaves, zero = st_c.grad_audit()
    print(f"stage C gradient audit: {n_leaves} trainable leaves, zero-gradient: {zero or 'none'}")
    st_c.run(report_every=100)
    st_c.table()

    # scratch baseline on alloy B only, same budget as B + C
    scratch = ReedNet()
    mx.eval(scratch.parameters())
    st_s = Stage("reference: alloy B from scratch (Adam 2e-3)", scratch,
                 optim.Adam(learning_rate=2e-3), XB, YB, XBv, YBv, y_scale, 1400)
    st_s.run(report_every=700)
    st_s.table()
    print("\ndone: MAE columns are cents on held-out reeds (lower is better)")


if __name__ == "__main__":
    main()
