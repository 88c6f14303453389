"""Hand-loom weft drafts: rows of 12 thread colours that repeat with a short
period (2, 3 or 4 picks). An absorbing-state (masked) discrete diffusion model
learns them: at noise level t every pick is hidden with probability t and the
network restores the hidden picks. Stage A trains on light masking only, stage B
on the full range, so the objective jumps up when stage B starts.
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

L, V = 12, 8
MASK = V
STAGES = [("A light masking", 0.05, 0.5, 200), ("B full masking", 0.02, 1.0, 300)]
BATCH = 128


def drafts(n, rng):
    out = np.empty((n, L), dtype=np.int32)
    for i in range(n):
        p = rng.integers(2, 5)
        pal = rng.choice(V, size=p, replace=False)
        s = rng.integers(0, p)
        out[i] = pal[(np.arange(L) + s) % p]
    return out


def is_repeat(row):
    return any(all(row[i] == row[i + p] for i in range(L - p)) for p in (2, 3, 4))


rng = np.random.default_rng(11)
train = drafts(20000, rng)
held = drafts(1000, rng)
unigram = np.bincount(train.ravel(), minlength=V) / train.size


class Restorer(nn.Module):
    def __init__(self, hidden=128):
        super().__init__()
        self.emb = nn.Embedding(V + 1, 16)
        self.inp = nn.Linear(L * 16 + 1, hidden)
        self.mid = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, L * V)

    def __call__(self, x, t):
        h = self.emb(x).reshape(x.shape[0], -1)
        h = nn.gelu(self.inp(mx.concatenate([h, t[:, None]], axis=1)))
        h = h + nn.gelu(self.mid(h))
        return self.out(h).reshape(x.shape[0], L, V)


def objective(model, x, xm, t, m):
    logits = model(xm, t)
    ce = nn.losses.cross_entropy(logits, x, reduction="none")
    per_seq = (ce * m).sum(axis=1) / (t * L)      # 1/t weighting of the hidden picks
    return per_seq.mean()


def corrupt(x, t, prng):
    m = (prng.uniform(size=x.shape) < t[:, None]).astype(np.float32)
    xm = np.where(m > 0, MASK, x).astype(np.int32)
    return xm, m


def sample(model, n, rounds, prng):
    x = np.full((n, L), MASK, dtype=np.int32)
    for r in range(rounds):
        t_now = 1.0 - r / rounds
        logits = model(mx.array(x), mx.full((n,), t_now))
        probs = np.array(mx.softmax(logits, axis=-1))
        hidden = x == MASK
        k = int(np.ceil(hidden.sum(1).max() / (rounds - r)))
        for i in range(n):
            cand = np.flatnonzero(hidden[i])
            if cand.size == 0:
                continue
            pick = prng.choice(cand, size=min(k, cand.size), replace=False)
            for j in pick:
                x[i, j] = prng.choice(V, p=probs[i, j] / probs[i, j].sum())
    return x


def held_objective(model, prng):
    t = prng.uniform(0.02, 1.0, size=held.shape[0]).astype(np.float32)
    xm, m = corrupt(held, t, prng)
    return objective(model, mx.array(held), mx.array(xm), mx.array(t), mx.array(m)).item()


mx.random.seed(3)
model = Restorer()
mx.eval(model.parameters())
total = sum(s[3] for s in STAGES)
warm = optim.linear_schedule(0.0, 2e-3, 50)
decay = optim.cosine_decay(2e-3, total - 50, 1e-4)
opt = optim.Adam(learning_rate=optim.join_schedules([warm, decay], [50]))
step_fn = nn.value_and_grad(model, objective)

uni_rows = np.stack([rng.choice(V, size=L, p=unigram) for _ in range(300)])
print(f"drafts: train {len(train)} held {len(held)} | picks {L} | colours {V}")
print(f"baseline unigram sampler: repeat-valid {100 * np.mean([is_repeat(r) for r in uni_rows]):.1f}%")
print(f"baseline held data:       repeat-valid {100 * np.mean([is_repeat(r) for r in held]):.1f}%")
eval_rng = np.random.default_rng(5)
print(f"untrained: held objective {held_objective(model, np.random.default_rng(5)):.3f} nats/pick")
print(f"{'stage':<16}{'step':>6}{'lr':>10}{'train obj':>11}{'held obj':>10}{'valid%':>8}{'novel%':>8}{'secs':>7}")

prng = np.random.default_rng(17)
seen = {tuple(r) for r in train}
step = 0
t0 = time.time()
for name, t_lo, t_hi, n_steps in STAGES:
    print(f"-- stage {name}: t ~ U({t_lo}, {t_hi})")
    window = []
    for k in range(n_steps):
        idx = prng.integers(0, len(train), size=BATCH)
        x = train[idx]
        t = prng.uniform(t_lo, t_hi, size=BATCH).astype(np.float32)
        xm, m = corrupt(x, t, prng)
        lr_used = float(opt.learning_rate)
        loss, grads = step_fn(model, mx.array(x), mx.array(xm), mx.array(t), mx.array(m))
        if step == 0:
            flat = tree_flatten(grads)
            nz = sum(float(mx.abs(g).max()) > 0 for _, g in flat)
            print(f"first step: lr used {lr_used:.1e}, {nz}/{len(flat)} gradient leaves non-zero")
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        window.append(loss.item())
        step += 1
        if (k + 1) % 100 == 0:
            rows = sample(model, 150, 6, np.random.default_rng(step))
            valid = 100 * np.mean([is_repeat(r) for r in rows])
            novel = 100 * np.mean([tuple(r) not in seen for r in rows])
            ho = held_objective(model, np.random.default_rng(5))
            print(f"{name[:15]:<16}{step:>6}{lr_used:>10.2e}{np.mean(window):>11.3f}{ho:>10.3f}"
                  f"{valid:>8.1f}{novel:>8.1f}{time.time() - t0:>7.1f}")
            window = []
print("done")
