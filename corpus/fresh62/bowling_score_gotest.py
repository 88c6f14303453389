"""Regress the final ten-pin bowling score from the raw roll sequence.

Input: 21 roll slots (pins / 10, -1 for an unused slot), target: total score (0..300).
The strike/spare bonus rules make it a non-linear function of the rolls.
Output mimics `go test -v` (one subtest per epoch).
"""
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(11)


def play_game(skill):
    rolls = []
    for frame in range(10):
        first = min(10, rng.binomial(10, skill))
        rolls.append(first)
        if frame < 9:
            if first < 10:
                rolls.append(rng.binomial(10 - first, skill))
        else:
            second = rng.binomial(10 - first, skill) if first < 10 else min(10, rng.binomial(10, skill))
            rolls.append(second)
            if first == 10 or first + second == 10:
                left = 10 if (first == 10 and second == 10) or first + second == 10 else 10 - second
                rolls.append(rng.binomial(left, skill))
    return rolls


def score(rolls):
    total, i = 0, 0
    for _ in range(10):
        if rolls[i] == 10:
            total += 10 + rolls[i + 1] + rolls[i + 2]
            i += 1
        elif rolls[i] + rolls[i + 1] == 10:
            total += 10 + rolls[i + 2]
            i += 2
        else:
            total += rolls[i] + rolls[i + 1]
            i += 2
    return total


def slots(rolls):
    """Lay rolls into the 21-slot scoresheet (a strike leaves its second box empty)."""
    x = -np.ones(21, np.float32)
    i, s = 0, 0
    for frame in range(9):
        x[s] = rolls[i] / 10
        if rolls[i] == 10:
            i += 1
        else:
            x[s + 1] = rolls[i + 1] / 10
            i += 2
        s += 2
    for k, r in enumerate(rolls[i:]):
        x[18 + k] = r / 10
    return x


def make(n):
    X, y = [], []
    for _ in range(n):
        r = play_game(rng.uniform(0.55, 0.97))
        X.append(slots(r))
        y.append(score(r))
    return mx.array(np.stack(X)), mx.array(np.array(y, np.float32))


Xtr, ytr = make(16000)
Xte, yte = make(4000)
mu, sd = float(ytr.mean()), float(mx.sqrt(mx.var(ytr)))


class Scorer(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(21, 256)
        self.h1 = nn.Linear(256, 256)
        self.h2 = nn.Linear(256, 128)
        self.out = nn.Linear(128, 1)

    def __call__(self, x):
        h = nn.silu(self.inp(x))
        h = h + nn.silu(self.h1(h))
        return self.out(nn.silu(self.h2(h))).squeeze(-1)


model = Scorer()
mx.eval(model.parameters())
EPOCHS, BS = 10, 128
spe = Xtr.shape[0] // BS
opt = optim.Adamax(learning_rate=optim.exponential_decay(3e-3, 0.9997))


def loss_fn(m, x, y):
    return nn.losses.huber_loss(m(x), (y - mu) / sd, delta=0.5, reduction="mean")


vg = nn.value_and_grad(model, loss_fn)
_, g0 = vg(model, Xtr[:BS], ytr[:BS])
flat = tree_flatten(g0)
zeros = [k for k, v in flat if float(mx.abs(v).max()) == 0]
print("=== RUN   TestGradients")
print(f"    bowling_test.go:12: {len(flat)} leaves, zero-gradient leaves: {zeros if zeros else 'none'}")
print(f"--- {'FAIL' if zeros else 'PASS'}: TestGradients (0.00s)")
base = float(mx.mean(mx.abs(yte - mu)))
print(f"    bowling_test.go:20: predict-the-mean baseline MAE = {base:.2f} pins")
print("=== RUN   TestTrain")

t_all = time.time()
for ep in range(1, EPOCHS + 1):
    t0 = time.time()
    perm = mx.array(rng.permutation(Xtr.shape[0]))
    run = 0.0
    for i in range(spe):
        idx = perm[i * BS:(i + 1) * BS]
        loss, g = vg(model, Xtr[idx], ytr[idx])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        run += loss.item()
    pred = model(Xte) * sd + mu
    mae = float(mx.mean(mx.abs(pred - yte)))
    exact = float(mx.mean(mx.round(pred) == yte))
    within5 = float(mx.mean(mx.abs(pred - yte) <= 5))
    print(f"=== RUN   TestTrain/epoch_{ep:02d}")
    print(f"    bowling_test.go:41: huber={run / spe:.4f} test_mae={mae:.2f}pins "
          f"exact={exact:.3f} within5={within5:.3f} lr={float(opt.learning_rate):.2e}")
    print(f"    --- PASS: TestTrain/epoch_{ep:02d} ({time.time() - t0:.2f}s)")

print(f"--- PASS: TestTrain ({time.time() - t_all:.2f}s)")
perfect = mx.array(slots([10] * 12)[None])
print(f"    bowling_test.go:55: perfect game 300 -> predicted {float(model(perfect)[0] * sd + mu):.1f}")
print("PASS")
print(f"ok  \tbowling\t{time.time() - t_all:.3f}s")
