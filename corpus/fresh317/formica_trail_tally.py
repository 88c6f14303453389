"""Ant colony field notes: which recruitment call a returning forager makes.

Four classes, very uneven: no recruitment / short tandem run / trail laying /
mass recruitment (about 70 / 20 / 7 / 3 percent).  Eight synthetic trip
readings per forager.  Batches are drawn with per-row weights (1/count)^alpha;
alpha starts at 1.0 (every class equally often) and is lowered in three phases
towards the natural mix.  Test numbers are on the natural mix, next to the
majority-class and uniform-guess baselines.
"""
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

rng = np.random.default_rng(7)
mx.random.seed(7)

N_TRAIN, N_TEST, D, C = 6000, 2000, 8, 4
PRIOR = np.array([0.70, 0.20, 0.07, 0.03])
CENTRES = rng.normal(0.0, 1.6, size=(C, D))


def make(n):
    y = rng.choice(C, size=n, p=PRIOR)
    x = CENTRES[y] + rng.normal(0.0, 1.0, size=(n, D))
    # trip length and load carry most signal for the two rare classes
    x[:, 0] += 0.8 * (y >= 2)
    x[:, 1] -= 0.6 * (y == 3)
    return x.astype(np.float32), y.astype(np.int32)


xtr, ytr = make(N_TRAIN)
xte, yte = make(N_TEST)
mu, sd = xtr.mean(0), xtr.std(0)
xtr = (xtr - mu) / sd
xte = (xte - mu) / sd
Xtr, Ytr, Xte, Yte = map(mx.array, (xtr, ytr, xte, yte))
counts = np.bincount(ytr, minlength=C)
print("train class counts:", counts.tolist())


class TripNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(D, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, C)

    def __call__(self, x):
        return self.out(nn.silu(self.l2(nn.silu(self.l1(x)))))


model = TripNet()
mx.eval(model.parameters())

STEPS, WARM, PEAK = 1500, 100, 3e-4
lr_sched = optim.join_schedules(
    [optim.linear_schedule(0.0, PEAK, WARM), optim.cosine_decay(PEAK, STEPS - WARM, 1e-5)],
    [WARM],
)
opt = optim.Lion(learning_rate=lr_sched, weight_decay=0.01)


def loss_fn(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")


step_fn = nn.value_and_grad(model, loss_fn)


def sample_logits(alpha):
    w = (1.0 / counts[ytr]) ** alpha
    return mx.array(np.log(w / w.sum()).astype(np.float32))


def evaluate():
    pred = np.array(mx.argmax(model(Xte), axis=1))
    acc = float((pred == yte).mean())
    rec = [float((pred[yte == c] == c).mean()) for c in range(C)]
    return acc, rec


PHASES = [(1.0, 500), (0.6, 500), (0.3, 500)]
maj_acc = float((yte == 0).mean())
print(f"baselines on test: majority acc {maj_acc:.3f} macro-recall 0.250 | uniform guess acc 0.250")

t0 = time.time()
step = 0
for alpha, n_steps in PHASES:
    logits = sample_logits(alpha)
    seen = np.zeros(C, dtype=np.int64)
    for _ in range(n_steps):
        idx = mx.random.categorical(logits, num_samples=128)
        xb, yb = Xtr[idx], Ytr[idx]
        loss, grads = step_fn(model, xb, yb)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        seen += np.bincount(np.array(yb), minlength=C)
        step += 1
        if step % 250 == 0:
            print(f"step {step:4d}  alpha {alpha:.1f}  lr {float(opt.learning_rate):.2e}  sampled-batch loss {float(loss):.4f}")
    share = (seen / seen.sum()).round(3).tolist()
    acc, rec = evaluate()
    macro = float(np.mean(rec))
    print(f"phase alpha={alpha:.1f} done: class share in batches {share}")
    print(f"  test acc {acc:.3f} (majority {maj_acc:.3f})  macro-recall {macro:.3f} (majority 0.250)  recall per class {[round(r, 3) for r in rec]}")

print(f"finished {step} steps in {time.time() - t0:.1f}s")
