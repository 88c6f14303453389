"""Tag every minute of a washing-machine power log with its programme phase.

Smart-plug logger: each minute gives (power kW, inlet-valve flow, drum vibration).
Phases: idle / fill / wash / rinse / spin.  Wash and rinse look alike minute by
minute, so a linear-chain CRF (MLP emissions + learned transition scores) is
trained on the exact sequence NLL and decoded with Viterbi.  Early stopping on
the validation NLL, and the best weights are put back at the end.
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

PHASES = ["idle", "fill", "wash", "rinse", "spin"]
K = len(PHASES)
T = 32
rng = np.random.default_rng(11)


def one_programme():
    seq = []
    seq += [0] * rng.integers(1, 4)
    seq += [1] * rng.integers(2, 4)
    seq += [2] * rng.integers(6, 11)
    seq += [1] * rng.integers(1, 3)
    seq += [3] * rng.integers(4, 7)
    seq += [4] * rng.integers(3, 7)
    seq += [0] * max(0, T - len(seq))
    return np.array(seq[:T])


def readings(tags):
    mean_p = np.array([0.01, 0.06, 0.32, 0.27, 0.45])
    mean_f = np.array([0.0, 1.0, 0.1, 0.2, 0.0])
    mean_v = np.array([0.0, 0.1, 0.45, 0.40, 0.9])
    p = mean_p[tags] + rng.normal(0, 0.12, T)
    f = mean_f[tags] + rng.normal(0, 0.45, T)
    v = mean_v[tags] + rng.normal(0, 0.30, T)
    x = np.stack([p * 5, f, v * 2], axis=-1)
    prev = np.vstack([x[:1], x[:-1]])
    nxt = np.vstack([x[1:], x[-1:]])
    return np.concatenate([prev, x, nxt], axis=-1)  # (T, 9)


def make_set(n):
    ys = np.stack([one_programme() for _ in range(n)])
    xs = np.stack([readings(y) for y in ys]).astype(np.float32)
    return xs, ys.astype(np.int32)


class PhaseCRF(nn.Module):
    def __init__(self, n_in=9, hidden=96):
        super().__init__()
        self.emit = nn.Sequential(nn.Linear(n_in, hidden), nn.Tanh(),
                                  nn.Linear(hidden, K))
        self.trans = mx.zeros((K, K))
        self.start = mx.zeros((K,))

    def __call__(self, x):
        return self.emit(x)  # (B, T, K)

    def nll(self, x, y):
        em = self(x)
        B = x.shape[0]
        gold = mx.take_along_axis(em, y[..., None], axis=-1).squeeze(-1).sum(1)
        gold = gold + self.start[y[:, 0]]
        gold = gold + self.trans[y[:, :-1], y[:, 1:]].sum(1)
        alpha = self.start[None, :] + em[:, 0]
        for t in range(1, T):
            alpha = mx.logsumexp(alpha[:, :, None] + self.trans[None], axis=1) + em[:, t]
        log_z = mx.logsumexp(alpha, axis=1)
        return (log_z - gold).mean()


def viterbi(em, trans, start):
    B = em.shape[0]
    score = start[None] + em[:, 0]
    back = np.zeros((B, T, K), dtype=np.int64)
    for t in range(1, T):
        cand = score[:, :, None] + trans[None]
        back[:, t] = cand.argmax(1)
        score = cand.max(1) + em[:, t]
    path = np.zeros((B, T), dtype=np.int64)
    path[:, -1] = score.argmax(1)
    for t in range(T - 1, 0, -1):
        path[:, t - 1] = back[np.arange(B), t, path[:, t]]
    return path


def evaluate(model, xs, ys):
    x, y = mx.array(xs), mx.array(ys)
    nll = model.nll(x, y).item()
    em = np.array(model(x))
    path = viterbi(em, np.array(model.trans), np.array(model.start))
    tag_err = 100.0 * (path != ys).mean()
    seq_ok = 100.0 * (path == ys).all(1).mean()
    return nll, tag_err, seq_ok


xtr, ytr = make_set(400)
xva, yva = make_set(500)
xte, yte = make_set(800)
mu = xtr.reshape(-1, 9).mean(0)
sd = xtr.reshape(-1, 9).std(0)
xtr, xva, xte = [(a - mu) / sd for a in (xtr, xva, xte)]
print(f"logs: train {len(xtr)} / valid {len(xva)} / test {len(xte)} programmes of {T} minutes")

mx.random.seed(5)
model = PhaseCRF()
mx.eval(model.parameters())
opt = optim.Adam(learning_rate=3e-3)
loss_and_grad = nn.value_and_grad(model, lambda m, x, y: m.nll(x, y))

# one look at the gradients before training
_, g0 = loss_and_grad(model, mx.array(xtr[:64]), mx.array(ytr[:64]))
leaves = tree_flatten(g0)
dead = [k for k, v in leaves if mx.abs(v).max().item() == 0.0]
print(f"gradient check: {len(leaves)} leaves, zero: {dead if dead else 'none'}")

nll0, err0, _ = evaluate(model, xva, yva)
print(f"untrained: valid nll/seq {nll0:.2f}, tag error {err0:.1f}%  (chance error {100 * (1 - 1 / K):.0f}%)")

BATCH, MAX_EPOCHS, PATIENCE = 32, 60, 4
best_nll, best_epoch, best_params, waited = float("inf"), 0, None, 0
t0 = time.time()
for epoch in range(1, MAX_EPOCHS + 1):
    order = rng.permutation(len(xtr))
    run, nb = 0.0, 0
    for i in range(0, len(order) - BATCH + 1, BATCH):
        idx = order[i:i + BATCH]
        loss, grads = loss_and_grad(model, mx.array(xtr[idx]), mx.array(ytr[idx]))
        grads, _ = optim.clip_grad_norm(grads, 5.0)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        run += loss.item()
        nb += 1
    v_nll, v_err, v_seq = evaluate(model, xva, yva)
    if v_nll < best_nll - 1e-3:
        best_nll, best_epoch, waited = v_nll, epoch, 0
        best_params = tree_map(lambda a: mx.array(a), model.parameters())
        mark = "*"
    else:
        waited += 1
        mark = ""
    print(f"ep {epoch:02d} | crf nll/seq {run / nb:7.3f} | valid nll/seq {v_nll:7.3f}{mark:1s} | "
          f"tag error {v_err:5.2f}% | whole programme right {v_seq:5.1f}% | "
          f"waited {waited}/{PATIENCE} | {time.time() - t0:5.1f}s")
    if waited >= PATIENCE:
        print(f"early stop after epoch {epoch}: no valid improvement for {PATIENCE} epochs")
        break

model.update(best_params)
mx.eval(model.parameters())
r_nll, _, _ = evaluate(model, xva, yva)
print(f"restored weights of epoch {best_epoch} (valid nll/seq {r_nll:.3f}, saved {best_nll:.3f})")
t_nll, t_err, t_seq = evaluate(model, xte, yte)
tr = np.array(model.trans)
print(f"test: nll/seq {t_nll:.3f} | tag error {t_err:.2f}% | whole programme right {t_seq:.1f}%")
print("learned transition scores (row = from):")
for i, name in enumerate(PHASES):
    print(f"  {name:>5s} " + " ".join(f"{v:6.2f}" for v in tr[i]))
