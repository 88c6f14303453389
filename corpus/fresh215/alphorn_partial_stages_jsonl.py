# Alphorn partial recognition: which natural harmonic (2..9) is sounding,
# from a synthetic 64-bin log-magnitude spectrum. A fixed triangular
# filterbank front end is frozen on purpose; only the head trains.
# Stage "calm" -> stage "foehn" (wind noise, detuned player): loss jumps, then recovers.
import json
import math
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

N_BINS, N_BANDS, N_CLASSES = 64, 20, 8
FUND_HZ, SR_BIN_HZ = 92.0, 16.0  # F#2 alphorn, 16 Hz per bin


def synth(n, rng, wind, detune_cents):
    y = rng.integers(0, N_CLASSES, n)
    freqs = np.arange(N_BINS) * SR_BIN_HZ
    X = np.zeros((n, N_BINS), dtype=np.float32)
    for i in range(n):
        k = y[i] + 2
        cents = rng.normal(0.0, detune_cents)
        f0 = k * FUND_HZ * 2 ** (cents / 1200)
        spec = np.zeros(N_BINS)
        for h, amp in ((1, 1.0), (2, 0.35), (3, 0.12)):
            spec += amp * np.exp(-0.5 * ((freqs - h * f0) / 14.0) ** 2)
        spec += wind * rng.random(N_BINS) + 0.02
        X[i] = np.log(spec + 1e-3)
    X = (X - X.mean(axis=1, keepdims=True)) / (X.std(axis=1, keepdims=True) + 1e-6)
    return X, y.astype(np.int32)


def tri_filterbank():
    edges = np.linspace(0, N_BINS - 1, N_BANDS + 2)
    fb = np.zeros((N_BANDS, N_BINS), dtype=np.float32)
    b = np.arange(N_BINS)
    for j in range(N_BANDS):
        lo, c, hi = edges[j], edges[j + 1], edges[j + 2]
        fb[j] = np.clip(np.minimum((b - lo) / (c - lo), (hi - b) / (hi - c)), 0, None)
    return fb


class PartialNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.frontend = nn.Linear(N_BINS, N_BANDS, bias=False)
        self.frontend.weight = mx.array(tri_filterbank())
        self.hidden = nn.Linear(N_BINS + N_BANDS, 48)
        self.out = nn.Linear(48, N_CLASSES)

    def __call__(self, x):
        bands = self.frontend(x)
        h = nn.gelu(self.hidden(mx.concatenate([x, bands], axis=-1)))
        return self.out(h)


def main():
    rng = np.random.default_rng(11)
    mx.random.seed(11)
    model = PartialNet()
    model.frontend.freeze()
    mx.eval(model.parameters())

    def loss_fn(m, x, y):
        return nn.losses.cross_entropy(m(x), y, reduction="mean")

    step_fn = nn.value_and_grad(model, loss_fn)
    warm = optim.linear_schedule(0.0, 2e-3, 40)
    stages = [("calm", 0.3, 6.0, 6), ("foehn", 1.2, 25.0, 10)]
    total_steps = sum(s[3] for s in stages) * 48
    sched = optim.join_schedules([warm, optim.cosine_decay(2e-3, total_steps - 40, 1e-4)], [40])
    opt = optim.AdamW(learning_rate=sched, weight_decay=0.01)

    Xv_all = {}
    for name, wind, det, _ in stages:
        Xv, yv = synth(400, rng, wind, det)
        Xv_all[name] = (mx.array(Xv), mx.array(yv))

    checked = False
    for stage_idx, (name, wind, det, epochs) in enumerate(stages):
        Xtr, ytr = synth(3072, rng, wind, det)
        Xtr, ytr = mx.array(Xtr), mx.array(ytr)
        for ep in range(epochs):
            perm = mx.array(rng.permutation(3072))
            run, nb = 0.0, 0
            for b in range(48):
                idx = perm[b * 64:(b + 1) * 64]
                loss, grads = step_fn(model, Xtr[idx], ytr[idx])
                if not checked:
                    gn = {k: float(mx.abs(v).sum()) for k, v in tree_flatten(grads)}
                    assert all(v > 0 for v in gn.values()), gn
                    checked = True
                opt.update(model, grads)
                mx.eval(model.parameters(), opt.state, loss)
                run += loss.item()
                nb += 1
            Xv, yv = Xv_all[name]
            acc = float(mx.mean(mx.argmax(model(Xv), axis=1) == yv)) * 100
            print(json.dumps({"stage": name, "epoch": ep, "lr": round(float(opt.learning_rate), 6),
                              "xent": round(run / nb, 4), "val_hit_pct": round(acc, 1),
                              "chance_pct": round(100 / N_CLASSES, 1)}))
    fb_drift = float(mx.abs(model.frontend.weight - mx.array(tri_filterbank())).max())
    print(json.dumps({"summary": True, "frontend_max_drift": fb_drift,
                      "calm_val_hit_pct": round(float(mx.mean(mx.argmax(model(Xv_all["calm"][0]), 1) == Xv_all["calm"][1])) * 100, 1)}))


if __name__ == "__main__":
    main()
