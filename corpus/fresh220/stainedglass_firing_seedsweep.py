"""Stained-glass studio: grade each kiln firing of painted glass (4 grades: underfired /
matt / glossy / overfired) from 8 kiln and paint readings.
Seed sweep: each seed retrains from scratch with a linear LR warm-up starting at exactly 0."""
import logging, math, sys
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from functools import partial

logging.basicConfig(stream=sys.stdout, level=logging.INFO,
                    format="%(asctime)s %(levelname)s kiln: %(message)s", datefmt="%H:%M:%S")
log = logging.getLogger("kiln")

rng = np.random.default_rng(42)
N = 4800
# readings: peak temp offset, studio RH%, vent opening, soak minutes, paint thickness um, glass mm, iron-oxide %, gum arabic score
X = np.stack([rng.normal(27, 3, N), rng.uniform(55, 95, N), rng.uniform(0.5, 3, N),
              rng.uniform(6, 20, N), rng.normal(30, 6, N), rng.normal(5, 1, N),
              rng.normal(40, 8, N), rng.gamma(2, 1, N)], 1).astype(np.float32)
score = (0.25 * (X[:, 0] - 27) - 0.03 * (X[:, 1] - 75) + 0.5 * X[:, 2] + 0.15 * X[:, 3]
         + 0.08 * (X[:, 4] - 30) + 0.35 * X[:, 7] - 0.04 * (X[:, 6] - 40) + rng.normal(0, 0.45, N))
y = np.digitize(score, np.quantile(score, [0.25, 0.5, 0.75])).astype(np.int32)
X = (X - X.mean(0)) / X.std(0)
Xtr, ytr, Xva, yva = mx.array(X[:4000]), mx.array(y[:4000]), mx.array(X[4000:]), mx.array(y[4000:])
chance_nll = math.log(4)

class FiringGrader(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(8, 48)
        self.l2 = nn.Linear(48, 48)
        self.head = nn.Linear(48, 4)
    def __call__(self, x):
        return self.head(nn.silu(self.l2(nn.silu(self.l1(x)))))

def macro_f1(pred, true):
    f1s = []
    for k in range(4):
        tp = int(((pred == k) & (true == k)).sum()); fp = int(((pred == k) & (true != k)).sum())
        fn = int(((pred != k) & (true == k)).sum())
        f1s.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return 100 * sum(f1s) / 4

STEPS, BS = 160, 128
summary = []
for seed in (11, 12, 13):
    mx.random.seed(seed)
    model = FiringGrader()
    sched = optim.join_schedules([optim.linear_schedule(0.0, 0.08, 40), optim.cosine_decay(0.08, STEPS - 40, 0.004)], [40])
    opt = optim.SGD(learning_rate=sched, momentum=0.9, nesterov=True)
    loss_grad = nn.value_and_grad(model, lambda m, xb, yb: nn.losses.cross_entropy(m(xb), yb, reduction="mean"))
    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(xb, yb):
        loss, g = loss_grad(model, xb, yb)
        opt.update(model, g)
        return loss

    mx.eval(model.parameters(), opt.state)
    if seed == 11:
        _, g0 = loss_grad(model, Xtr[:BS], ytr[:BS])
        zero = [k for k, v in nn.utils.tree_flatten(g0) if float(mx.abs(v).max()) == 0.0]
        log.info("grad audit: %d tensors, %d with all-zero grad", len(nn.utils.tree_flatten(g0)), len(zero))
    w0 = mx.concatenate([v.reshape(-1) for _, v in nn.utils.tree_flatten(model.parameters())])
    log.info("seed %d start | lr %.4f | chance nll %.3f", seed, float(sched(0)), chance_nll)
    for s in range(1, STEPS + 1):
        idx = mx.random.randint(0, 4000, (BS,))
        loss = step(Xtr[idx], ytr[idx])
        mx.eval(loss, state)
        if s % 40 == 0:
            logits = model(Xva)
            vnll = nn.losses.cross_entropy(logits, yva, reduction="mean").item()
            pred = np.array(mx.argmax(logits, 1)); f1 = macro_f1(pred, np.array(yva))
            bar = "#" * (s * 20 // STEPS)
            log.info("seed %d [%-20s] %3d/%d lr=%.4f train=%.4f val_nll=%.4f (chance %.4f) macroF1=%.1f%%",
                     seed, bar, s, STEPS, float(opt.learning_rate), loss.item(), vnll, chance_nll, f1)
    w1 = mx.concatenate([v.reshape(-1) for _, v in nn.utils.tree_flatten(model.parameters())])
    log.info("seed %d audit | |w1-w0|=%.3f |w1|=%.3f", seed, mx.linalg.norm(w1 - w0).item(), mx.linalg.norm(w1).item())
    summary.append((seed, vnll, f1))

print("seed | val_nll | macroF1%")
for sd, v, f in summary:
    print(f"{sd:4d} | {v:7.4f} | {f:6.1f}")
print(f"mean | {np.mean([s[1] for s in summary]):7.4f} | {np.mean([s[2] for s in summary]):6.1f}")
