"""Query-by-humming: match a sung 16-note incipit to the tune catalogue.

Shared (siamese) MLP encoder, in-batch InfoNCE with a learnable temperature.
Two stages: clean studio hums, then pub-singer hums (transposed far, sloppy).
"""
import math
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(7)
mx.random.seed(7)
N_TUNES, L = 400, 16

# catalogue: pitch random walks in semitones around middle C
steps = rng.choice(np.arange(-5, 6), size=(N_TUNES, L - 1),
                   p=np.array([1, 2, 4, 7, 11, 6, 11, 7, 4, 2, 1]) / 56)
start = rng.integers(-5, 6, size=(N_TUNES, 1))
tunes = np.concatenate([start, start + np.cumsum(steps, axis=1)], axis=1).astype(np.float32)

STAGES = [
    # name,          pitch sd, wrong-note p, max transpose, steps, peak lr
    ("studio",       0.40,     0.08,         3,             500,   2e-3),
    ("pub-singers",  1.00,     0.25,         7,             600,   1e-3),
]


def hum(idx, sd, p_wrong, max_t, r):
    q = tunes[idx].copy()
    q += r.integers(-max_t, max_t + 1, size=(len(idx), 1))
    q += r.normal(0, sd, size=q.shape)
    wrong = r.random(q.shape) < p_wrong
    q[wrong] += r.choice([-12, -3, -2, 2, 3, 12], size=wrong.sum())
    # a late entry: the singer skips the first note and holds the last one
    late = r.random(len(idx)) < p_wrong * 2
    q[late] = np.concatenate([q[late, 1:], q[late, -1:]], axis=1)
    return q.astype(np.float32)


def prep(x):
    return mx.array(x / 12.0)


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(L, 128)
        self.l2 = nn.Linear(128, 128)
        self.out = nn.Linear(128, 48)
        self.log_inv_tau = mx.array(math.log(1 / 0.2))

    def __call__(self, x):
        h = nn.gelu(self.l1(x))
        h = nn.gelu(self.l2(h)) + h
        z = self.out(h)
        return z / mx.sqrt((z * z).sum(axis=1, keepdims=True) + 1e-8)


def nce(model, q, k):
    zq, zk = model(q), model(k)
    logits = (zq @ zk.T) * mx.exp(model.log_inv_tau)
    t = mx.arange(q.shape[0])
    return 0.5 * (nn.losses.cross_entropy(logits, t).mean()
                  + nn.losses.cross_entropy(logits.T, t).mean())


def retrieval(model, queries, truth):
    zc = model(prep(tunes))
    zq = model(prep(queries))
    s = np.array(zq @ zc.T)
    rank = (s > s[np.arange(len(truth)), truth][:, None]).sum(1)
    return 100 * (rank == 0).mean(), 100 * (rank < 5).mean(), (1.0 / (rank + 1)).mean()


def centred_cosine_baseline(queries, truth):
    a = tunes - tunes.mean(1, keepdims=True)
    b = queries - queries.mean(1, keepdims=True)
    a /= np.linalg.norm(a, axis=1, keepdims=True)
    b /= np.linalg.norm(b, axis=1, keepdims=True)
    s = b @ a.T
    rank = (s > s[np.arange(len(truth)), truth][:, None]).sum(1)
    return 100 * (rank == 0).mean()


model = Encoder()
mx.eval(model.parameters())
loss_and_grad = nn.value_and_grad(model, nce)

# grad audit before training
erng = np.random.default_rng(99)
idx0 = erng.choice(N_TUNES, 32, replace=False)
_, g0 = loss_and_grad(model, prep(hum(idx0, 0.40, 0.08, 3, erng)), prep(tunes[idx0]))
flat = dict(nn.utils.tree_flatten(g0))
print("grad audit:", "  ".join(f"{k}={float(mx.sqrt((v*v).sum())):.2e}" for k, v in flat.items()
                               if k.endswith("weight") or k == "log_inv_tau"))

evals = {}
for name, sd, pw, mt, _, _ in STAGES:
    truth = np.repeat(np.arange(N_TUNES), 2)
    evals[name] = (hum(truth, sd, pw, mt, erng), truth)

print(f"{'stage':<12}|{'step':>5} |{'nce':>7} |{'tau':>6} |{'r@1 %':>6} |{'r@5 %':>6} |{'mrr':>6} | ref r@1 chance/cosine")
print("-" * 86)
trng = np.random.default_rng(3)
for name, sd, pw, mt, n_steps, peak in STAGES:
    sched = optim.join_schedules([optim.linear_schedule(0.0, peak, 60),
                                  optim.cosine_decay(peak, n_steps - 60, 1e-5)], [60])
    opt = optim.Adam(learning_rate=sched)   # fresh optimizer per stage
    eq, et = evals[name]
    base = centred_cosine_baseline(eq, et)
    run = []
    for step in range(1, n_steps + 1):
        idx = trng.choice(N_TUNES, 64, replace=False)
        q = prep(hum(idx, sd, pw, mt, trng))
        k = prep(tunes[idx])
        loss, grads = loss_and_grad(model, q, k)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        run.append(loss.item())
        if step == 1 or step % 150 == 0 or step == n_steps:
            r1, r5, mrr = retrieval(model, eq, et)
            tau = 1.0 / math.exp(model.log_inv_tau.item())
            print(f"{name:<12}|{step:>5} |{np.mean(run):>7.3f} |{tau:>6.3f} |{r1:>6.1f} |{r5:>6.1f} |{mrr:>6.3f} |"
                  f" {100 / N_TUNES:.2f} / {base:.1f}")
            run = []
    print("-" * 86)

print("final, both hum styles (higher is better):")
for name in evals:
    r1, r5, mrr = retrieval(model, *evals[name])
    print(f"  {name:<12} r@1 {r1:5.1f}%  r@5 {r5:5.1f}%  mrr {mrr:.3f}   cosine baseline r@1 {centred_cosine_baseline(*evals[name]):.1f}%")
