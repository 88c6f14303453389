# Track sprint match outcomes (velodrome): who wins a two-up match sprint?
# Bradley-Terry style model: each rider has a learned strength embedding, plus a
# small MLP scoring the match context for each side (leading/following, gear,
# fatigue). Stage 1 trains only on "clear" matches, stage 2 adds the close ones,
# so the loss goes UP at the stage change (harder data, not a bug).
# Hand-written Nesterov-momentum SGD.
import sys
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_map, tree_flatten

rng = np.random.default_rng(7)
N_RIDERS = 40
true_str = rng.normal(0.0, 1.0, N_RIDERS)


def make_matches(n):
    a = rng.integers(0, N_RIDERS, n)
    b = (a + rng.integers(1, N_RIDERS, n)) % N_RIDERS
    # context per side: [leads, gear_inches_scaled, fatigue(heats ridden)]
    lead_a = rng.integers(0, 2, n)
    ctx_a = np.stack([lead_a, rng.normal(0, 1, n), rng.integers(0, 4, n) / 3.0], 1)
    ctx_b = np.stack([1 - lead_a, rng.normal(0, 1, n), rng.integers(0, 4, n) / 3.0], 1)

    def side(s, c):
        # following rider has an edge (slipstream), big gear helps strong riders,
        # fatigue hurts
        return s - 0.6 * c[:, 0] + 0.3 * c[:, 1] * np.tanh(s) - 0.8 * c[:, 2]

    margin = side(true_str[a], ctx_a) - side(true_str[b], ctx_b)
    p = 1.0 / (1.0 + np.exp(-1.5 * margin))
    y = (rng.random(n) < p).astype(np.float32)
    return a, b, ctx_a.astype(np.float32), ctx_b.astype(np.float32), y, margin, p


tr = make_matches(9000)
va = make_matches(2000)
bayes_acc = np.mean((va[6] > 0.5) == (va[4] > 0.5)) * 100.0


class SprintBT(nn.Module):
    def __init__(self):
        super().__init__()
        self.strength = nn.Embedding(N_RIDERS, 1)
        self.ctx1 = nn.Linear(3 + 1, 24)
        self.ctx2 = nn.Linear(24, 1, bias=False)  # a bias would cancel in the difference

    def side_score(self, r, c):
        s = self.strength(r)[:, 0]
        h = nn.gelu(self.ctx1(mx.concatenate([c, s[:, None]], axis=1)))
        return s + self.ctx2(h)[:, 0]

    def __call__(self, a, b, ca, cb):
        return self.side_score(a, ca) - self.side_score(b, cb)


model = SprintBT()
model.strength.weight = mx.zeros((N_RIDERS, 1))
mx.eval(model.parameters())


def loss_fn(m, a, b, ca, cb, y):
    logit = m(a, b, ca, cb)
    return nn.losses.binary_cross_entropy(logit, y, with_logits=True, reduction="mean")


loss_and_grad = nn.value_and_grad(model, loss_fn)

# gradient audit before training
idx = np.arange(256)
_, g0 = loss_and_grad(model, mx.array(tr[0][idx]), mx.array(tr[1][idx]),
                      mx.array(tr[2][idx]), mx.array(tr[3][idx]), mx.array(tr[4][idx]))
for k, v in tree_flatten(g0):
    print(f"audit grad-norm {k:<18s} {float(mx.linalg.norm(v.reshape(-1))):.3e}")

velocity = tree_map(lambda p: mx.zeros_like(p), model.parameters())
LR, MU = 0.01, 0.9


def nesterov_step(params, grads, vel):
    new_vel = tree_map(lambda v, g: MU * v + g, vel, grads)
    new_params = tree_map(lambda p, g, v: p - LR * (g + MU * v), params, grads, new_vel)
    return new_params, new_vel


def evaluate(d):
    logit = model(mx.array(d[0]), mx.array(d[1]), mx.array(d[2]), mx.array(d[3]))
    y = mx.array(d[4])
    l = nn.losses.binary_cross_entropy(logit, y, with_logits=True, reduction="mean")
    acc = mx.mean((logit > 0) == (y > 0.5)) * 100.0
    return float(l), float(acc)


def bar(done, total, width=20):
    k = int(width * done / total)
    return "#" * k + " " * (width - k)


clear = np.abs(tr[5]) > 1.2
stages = [("clear-only", np.where(clear)[0], 900), ("all-matches", np.arange(len(tr[4])), 1500)]
BS = 128
t0 = time.time()
vl, vacc = evaluate(va)
print(f"before training: val_bce={vl:.3f} win-pick={vacc:.1f}%")
for si, (sname, pool, steps) in enumerate(stages, 1):
    run = 0.0
    for step in range(1, steps + 1):
        bi = pool[rng.integers(0, len(pool), BS)]
        loss, grads = loss_and_grad(model, mx.array(tr[0][bi]), mx.array(tr[1][bi]),
                                    mx.array(tr[2][bi]), mx.array(tr[3][bi]), mx.array(tr[4][bi]))
        params, velocity = nesterov_step(model.parameters(), grads, velocity)
        model.update(params)
        mx.eval(model.parameters(), velocity, loss)
        run = 0.95 * run + 0.05 * loss.item() if step > 1 else loss.item()
        if step in (1, 25, 60) or step % 150 == 0 or step == steps:
            vl, vacc = evaluate(va)
            sys.stdout.write(
                f"stage {si}/2 {sname:<11s} |{bar(step, steps)}| {step:4d}/{steps} "
                f"[{time.time() - t0:5.1f}s, loss={run:.3f}, val_bce={vl:.3f}, "
                f"win-pick={vacc:.1f}% coin=50.0% bayes={bayes_acc:.1f}%]\n")
    sys.stdout.flush()

est = np.array(model.strength.weight[:, 0])
corr = np.corrcoef(est, true_str)[0, 1]
vl, vacc = evaluate(va)
print(f"done: val_bce {vl:.4f}  winner picked {vacc:.1f}% (bayes {bayes_acc:.1f}%), "
      f"rider strength corr {corr:.3f}")
