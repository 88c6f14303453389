"""Step-level verifier for an abacus tutoring app.

Pupils (here: a noisy sampler) work modular-10 chains of six operations on a
slate.  Each line reads  "s op x = y".  We train a small process reward model
that scores every line on its own, then use it to pick one of 8 sampled
slates per problem (score = lowest line probability).  Selection accuracy is
reported beside random pick, majority vote over final answers, and the
any-correct ceiling.
"""
import time
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

MOD = 10
OPS = ["+", "-", "*"]
N_STEPS = 6
P_SLIP = 0.18
LABEL_FLIP = 0.04

rng = np.random.default_rng(349)
mx.random.seed(349)


def apply_op(s, op, x):
    if op == 0:
        return (s + x) % MOD
    if op == 1:
        return (s - x) % MOD
    return (s * x) % MOD


def sample_slates(s0, ops, xs, n, p_slip):
    """n sampled slates for one problem -> lines [n, N_STEPS, 4], ok flags, final answers."""
    lines = np.zeros((n, N_STEPS, 4), dtype=np.int32)
    ok = np.zeros((n, N_STEPS), dtype=np.float32)
    finals = np.zeros(n, dtype=np.int32)
    for k in range(n):
        s = s0
        for t in range(N_STEPS):
            true = apply_op(s, ops[t], xs[t])
            if rng.random() < p_slip:
                y = (true + rng.integers(1, MOD)) % MOD
            else:
                y = true
            lines[k, t] = [s, MOD + ops[t], xs[t], y]
            ok[k, t] = float(y == true)
            s = y
        finals[k] = s
    return lines, ok, finals


def make_problem():
    s0 = int(rng.integers(0, MOD))
    ops = rng.integers(0, 3, size=N_STEPS)
    xs = rng.integers(0, MOD, size=N_STEPS)
    s = s0
    for t in range(N_STEPS):
        s = apply_op(s, ops[t], xs[t])
    return s0, ops, xs, s


# ---- training lines: 5000 problems x 1 slate each -------------------------
train_lines, train_ok = [], []
for _ in range(5000):
    s0, ops, xs, _ = make_problem()
    l, o, _ = sample_slates(s0, ops, xs, 1, P_SLIP)
    train_lines.append(l.reshape(-1, 4))
    train_ok.append(o.reshape(-1))
X_train = np.concatenate(train_lines)
y_clean = np.concatenate(train_ok)
flip = rng.random(len(y_clean)) < LABEL_FLIP
y_train = np.where(flip, 1.0 - y_clean, y_clean).astype(np.float32)

# ---- held-out best-of-8 problems ------------------------------------------
N_TEST, K = 400, 8
test = []
for _ in range(N_TEST):
    s0, ops, xs, ans = make_problem()
    l, o, f = sample_slates(s0, ops, xs, K, P_SLIP)
    test.append((l, o, f, ans))
T_lines = mx.array(np.stack([t[0] for t in test]).reshape(-1, 4))
T_ok = np.stack([t[1] for t in test]).reshape(-1)
T_final = np.stack([t[2] for t in test])
T_ans = np.array([t[3] for t in test])

print(f"train lines: {len(X_train)}  slip rate {1 - y_clean.mean():.3f}  "
      f"label flips {flip.mean():.3f}")


class LineScorer(nn.Module):
    """Left side "s op x" is one token of a 300-entry table; claimed result y is another."""

    def __init__(self, dim=32, hidden=64):
        super().__init__()
        self.lhs = nn.Embedding(MOD * len(OPS) * MOD, dim)
        self.rhs = nn.Embedding(MOD, dim)
        self.mlp = nn.Sequential(
            nn.Linear(2 * dim, hidden), nn.SiLU(),
            nn.Linear(hidden, hidden), nn.SiLU(),
            nn.Linear(hidden, 1),
        )

    def __call__(self, lines):
        lhs = (lines[:, 0] * len(OPS) + (lines[:, 1] - MOD)) * MOD + lines[:, 2]
        h = mx.concatenate([self.lhs(lhs), self.rhs(lines[:, 3])], axis=-1)
        return self.mlp(h).squeeze(-1)


def loss_fn(model, xb, yb):
    return nn.losses.binary_cross_entropy(model(xb), yb, with_logits=True).mean()


def evaluate(model):
    p = mx.sigmoid(model(T_lines))
    mx.eval(p)
    p = np.array(p)
    line_acc = ((p > 0.5) == (T_ok > 0.5)).mean()
    slate_score = p.reshape(N_TEST, K, N_STEPS).min(axis=-1)
    pick = slate_score.argmax(axis=-1)
    prm_acc = (T_final[np.arange(N_TEST), pick] == T_ans).mean()
    return line_acc, prm_acc


# baselines that do not depend on the model
rand_acc = (T_final == T_ans[:, None]).mean()
maj = []
for i in range(N_TEST):
    vals, counts = np.unique(T_final[i], return_counts=True)
    maj.append(vals[counts.argmax()] == T_ans[i])
maj_acc = float(np.mean(maj))
oracle_acc = (T_final == T_ans[:, None]).any(axis=1).mean()
always_ok = (T_ok > 0.5).mean()
print(f"baselines  random-pick {rand_acc:.3f}  majority-vote {maj_acc:.3f}  "
      f"any-correct ceiling {oracle_acc:.3f}  'every line ok' line acc {always_ok:.3f}")

model = LineScorer()
mx.eval(model.parameters())
la, pa = evaluate(model)
print(f"untrained  line acc {la:.3f}  best-of-8 acc {pa:.3f}")

STEPS, BATCH, WARM, PEAK = 1500, 256, 150, 3e-3
schedule = optim.join_schedules(
    [optim.linear_schedule(0.0, PEAK, WARM), optim.cosine_decay(PEAK, STEPS - WARM, 1e-5)],
    [WARM],
)
opt = optim.AdamW(learning_rate=schedule, weight_decay=0.01)
loss_and_grad = nn.value_and_grad(model, loss_fn)
state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def train_step(xb, yb):
    loss, grads = loss_and_grad(model, xb, yb)
    opt.update(model, grads)
    return loss

Xtr, Ytr = mx.array(X_train), mx.array(y_train)
n = len(X_train)
t0 = time.time()
run = 0.0
for step in range(1, STEPS + 1):
    idx = mx.array(rng.integers(0, n, size=BATCH))
    loss = train_step(Xtr[idx], Ytr[idx])
    mx.eval(state, loss)
    run = 0.9 * run + 0.1 * loss.item() if step > 1 else loss.item()
    if step in (1, 50, 100, 150, 300) or step % 500 == 0:
        la, pa = evaluate(model)
        lr = opt.learning_rate.item()
        print(f"step {step:5d}  lr {lr:.2e}  loss {run:.4f}  line acc {la:.3f}  "
              f"best-of-8 acc {pa:.3f}  ({time.time() - t0:.1f}s)")

la, pa = evaluate(model)
floor = -(LABEL_FLIP * np.log(LABEL_FLIP) + (1 - LABEL_FLIP) * np.log(1 - LABEL_FLIP))
print(f"final      line acc {la:.3f}  best-of-8 acc {pa:.3f}  "
      f"(random {rand_acc:.3f}, majority {maj_acc:.3f}, ceiling {oracle_acc:.3f})")
print(f"label-noise entropy floor for the loss: {floor:.4f}")
