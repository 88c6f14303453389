# Ferry terminal: multi-gate mixture-of-experts (MMoE) for two tasks.
#   task A: crossing time in minutes (regression, standardised)
#   task B: "vehicle deck closed early" flag (binary)
# Stage 1 trains task A only; stage 2 ramps task B's weight in from 0, so the
# combined objective goes up before it comes down. A checkpoint is written at
# the end of stage 1 and the run resumes from it (weights + optimizer state).
import os, tempfile, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten


def make_sailings(n, rng):
    # wind kt, swell m, tide phase, vehicles booked, foot passengers, hour, vessel age
    x = rng.normal(size=(n, 7)).astype(np.float32)
    rough = (x[:, 0] + 0.7 * x[:, 1]) > 0.5
    minutes = 42 + np.where(rough, 6 * x[:, 0] + 5 * x[:, 1] ** 2, 1.5 * x[:, 0]) \
        + 2.0 * np.sin(2 * x[:, 2]) + 1.2 * x[:, 6] + 0.8 * rng.standard_normal(n)
    logit = 1.8 * x[:, 3] + 0.9 * x[:, 5] - 0.6 * x[:, 4] + np.where(rough, -1.0, 0.4)
    closed = (rng.uniform(size=n) < 1 / (1 + np.exp(-logit))).astype(np.float32)
    return x, minutes.astype(np.float32), closed


class Expert(nn.Module):
    def __init__(self, d_in, d_h):
        super().__init__()
        self.l1 = nn.Linear(d_in, d_h)
        self.l2 = nn.Linear(d_h, d_h)

    def __call__(self, x):
        return nn.gelu(self.l2(nn.gelu(self.l1(x))))


class MMoE(nn.Module):
    def __init__(self, d_in, d_h, n_experts, n_tasks):
        super().__init__()
        self.experts = [Expert(d_in, d_h) for _ in range(n_experts)]
        self.gates = [nn.Linear(d_in, n_experts) for _ in range(n_tasks)]
        self.towers = [nn.Sequential(nn.Linear(d_h, 16), nn.GELU(), nn.Linear(16, 1))
                       for _ in range(n_tasks)]

    def __call__(self, x):
        e = mx.stack([ex(x) for ex in self.experts], axis=1)       # B, E, H
        outs, shares = [], []
        for gate, tower in zip(self.gates, self.towers):
            w = mx.softmax(gate(x), axis=-1)                         # B, E
            outs.append(tower(mx.sum(e * w[..., None], axis=1)).squeeze(-1))
            shares.append(w.mean(axis=0))
        return outs, shares


def main():
    rng = np.random.default_rng(11)
    mx.random.seed(11)
    xtr, mtr, ctr = make_sailings(4000, rng)
    xva, mva, cva = make_sailings(1500, rng)
    mu, sd = mtr.mean(), mtr.std()
    Xtr, Ztr, Ctr = mx.array(xtr), mx.array((mtr - mu) / sd), mx.array(ctr)
    Xva = mx.array(xva)

    model = MMoE(7, 32, n_experts=4, n_tasks=2)
    steps_per_epoch = 4000 // 100
    warm = 2 * steps_per_epoch
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 2e-3, warm), optim.cosine_decay(2e-3, 40 * steps_per_epoch, 1e-4)],
        [warm])
    opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)

    def loss_fn(xb, zb, cb, wb):
        (za, zb_logit), _ = model(xb)
        la = mx.mean((za - zb) ** 2)
        lb = nn.losses.binary_cross_entropy(zb_logit, cb, with_logits=True, reduction="mean")
        return la + wb * lb, (la, lb)

    vg = nn.value_and_grad(model, loss_fn)

    def evaluate():
        (za, zl), shares = model(Xva)
        pred_min = np.array(za) * sd + mu
        mae = float(np.mean(np.abs(pred_min - mva)))
        acc = float(np.mean((np.array(zl) > 0) == (cva > 0.5)))
        return mae, acc, [np.array(s) for s in shares]

    base_mae = float(np.mean(np.abs(mva - np.median(mtr))))
    base_acc = float(max(cva.mean(), 1 - cva.mean()))
    print(f"baselines: crossing MAE {base_mae:.2f} min (median), deck-closed acc {base_acc:.3f} (majority)")

    ckpt_dir = tempfile.mkdtemp()
    t0 = time.time()

    def run_epochs(first, last, stage):
        for epoch in range(first, last + 1):
            wb = 0.0 if stage == 1 else min(1.0, (epoch - first + 1) / 4)
            perm = rng.permutation(4000)
            tot = la_s = lb_s = 0.0
            for i in range(0, 4000, 100):
                idx = mx.array(perm[i:i + 100])
                (loss, (la, lb)), g = vg(Xtr[idx], Ztr[idx], Ctr[idx], wb)
                opt.update(model, g)
                mx.eval(model.parameters(), opt.state)
                tot += loss.item(); la_s += la.item(); lb_s += lb.item()
            n = steps_per_epoch
            if epoch % 2 == 0 or epoch in (first, last):
                mae, acc, shares = evaluate()
                print(f"[stage {stage}] epoch {epoch:2d} lr {float(opt.learning_rate):.2e} w_B {wb:.2f} "
                      f"objective {tot / n:.4f} (A {la_s / n:.4f}, B {lb_s / n:.4f}) "
                      f"val MAE {mae:.2f} min acc {acc:.3f} gateA {np.round(shares[0], 2)}")

    run_epochs(1, 8, stage=1)
    # checkpoint, then rebuild everything from disk and continue
    model.save_weights(os.path.join(ckpt_dir, "mmoe.safetensors"))
    mx.save_safetensors(os.path.join(ckpt_dir, "opt.safetensors"), dict(tree_flatten(opt.state)))
    print(f"checkpoint written after epoch 8 (step {int(opt.step)})")

    model = MMoE(7, 32, n_experts=4, n_tasks=2)
    model.load_weights(os.path.join(ckpt_dir, "mmoe.safetensors"))
    opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)
    opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt_dir, "opt.safetensors")).items()))
    vg = nn.value_and_grad(model, loss_fn)
    mae, acc, _ = evaluate()
    print(f"resumed at step {int(opt.step)}: val MAE {mae:.2f} min acc {acc:.3f}")

    run_epochs(9, 30, stage=2)
    mae, acc, shares = evaluate()
    print(f"final: crossing MAE {mae:.2f} min (baseline {base_mae:.2f}), deck-closed acc {acc:.3f} "
          f"(baseline {base_acc:.3f}), gate A {np.round(shares[0], 2)} gate B {np.round(shares[1], 2)}, "
          f"{time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
