"""Railway signal-box bell codes: LSTM + CTC over microphone energy frames, two-stage curriculum."""
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

N_SYM, FEAT, T, MAXL = 5, 10, 18, 4
rng = np.random.default_rng(3)
protos = rng.normal(0, 1.0, (N_SYM + 1, FEAT)).astype(np.float32)
NEG = -1e9


def make_set(n, lo, hi):
    X = np.repeat(protos[0][None, None, :], T, axis=1).repeat(n, axis=0)
    Y = np.zeros((n, MAXL), np.int32)
    L = np.zeros((n,), np.int32)
    for i in range(n):
        k = int(rng.integers(lo, hi + 1))
        t, seq = int(rng.integers(0, 2)), []
        for _ in range(k):
            s = int(rng.integers(1, N_SYM + 1))
            d = int(rng.integers(1, 4))
            if t + d > T:
                break
            X[i, t:t + d] = protos[s]
            seq.append(s)
            t += d + 1
        Y[i, :len(seq)] = seq
        L[i] = len(seq)
    X += rng.normal(0, 0.7, X.shape).astype(np.float32)
    return mx.array(X), mx.array(Y), mx.array(L)


class Listener(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(FEAT, 32)
        self.lstm = nn.LSTM(32, 64)
        self.head = nn.Linear(64, N_SYM + 1)

    def __call__(self, x):
        h, _ = self.lstm(nn.relu(self.inp(x)))
        return self.head(h)


def log_lik(logits, Y, L):
    lp = logits - mx.logsumexp(logits, axis=-1, keepdims=True)
    B, S = Y.shape[0], 2 * MAXL + 1
    ext = mx.concatenate([mx.stack([mx.zeros_like(Y), Y], axis=2).reshape(B, -1), mx.zeros((B, 1), mx.int32)], axis=1)
    prev2 = mx.concatenate([mx.full((B, 2), -1, mx.int32), ext[:, :-2]], axis=1)
    skip = (ext != 0) & (ext != prev2)
    alpha = mx.where(mx.arange(S)[None, :] < 2, mx.take_along_axis(lp[:, 0, :], ext, axis=1), NEG)
    for t in range(1, T):
        a1 = mx.concatenate([mx.full((B, 1), NEG), alpha[:, :-1]], axis=1)
        a2 = mx.where(skip, mx.concatenate([mx.full((B, 2), NEG), alpha[:, :-2]], axis=1), NEG)
        alpha = mx.logaddexp(mx.logaddexp(alpha, a1), a2) + mx.take_along_axis(lp[:, t, :], ext, axis=1)
    e1 = mx.take_along_axis(alpha, (2 * L)[:, None], axis=1)[:, 0]
    e2 = mx.take_along_axis(alpha, mx.maximum(2 * L - 1, 0)[:, None], axis=1)[:, 0]
    return mx.logaddexp(e1, e2)


def greedy(logits):
    out = []
    for row in np.array(mx.argmax(logits, axis=-1)):
        hyp, last = [], -1
        for p in row:
            if p != last and p != 0:
                hyp.append(int(p))
            last = p
        out.append(hyp)
    return out


def exact_match(model, X, Y, L):
    hyps = greedy(model(X))
    Yn, Ln = np.array(Y), np.array(L)
    return 100.0 * np.mean([hyps[i] == list(Yn[i, :Ln[i]]) for i in range(len(hyps))])


mx.random.seed(1)
model = Listener()
opt = optim.SGD(learning_rate=0.05, momentum=0.9)


def objective(m, x, y, l):
    return -log_lik(m(x), y, l).mean()


vg = nn.value_and_grad(model, objective)
BS = 32
stages = [("two-stroke codes", 1, 2, 3), ("full codes", 3, 4, 5)]
print(f"{'stage':<18}{'epoch':>6}{'lr':>9}{'train logp':>12}{'val logp':>10}{'exact %':>9}{'majority %':>11}{'s':>6}")
for name, lo, hi, n_ep in stages:
    Xtr, Ytr, Ltr = make_set(960, lo, hi)
    Xva, Yva, Lva = make_set(240, lo, hi)
    Yn, Ln = np.array(Yva), np.array(Lva)
    seqs = [tuple(Yn[i, :Ln[i]]) for i in range(len(Ln))]
    majority = 100.0 * max(seqs.count(s) for s in set(seqs)) / len(seqs)
    for ep in range(1, n_ep + 1):
        t0 = time.time()
        lr = 0.05 if ep <= n_ep - 1 else 0.01
        opt.learning_rate = lr
        perm = rng.permutation(Xtr.shape[0])
        acc = 0.0
        for s in range(Xtr.shape[0] // BS):
            idx = mx.array(perm[s * BS:(s + 1) * BS])
            loss, g = vg(model, Xtr[idx], Ytr[idx], Ltr[idx])
            g, _ = optim.clip_grad_norm(g, 5.0)
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
            acc += loss.item()
        if name.startswith("two") and ep < n_ep:
            continue
        vlp = log_lik(model(Xva), Yva, Lva).mean().item()
        print(f"{name:<18}{ep:>6}{lr:>9.3f}{-acc / (Xtr.shape[0] // BS):>12.3f}{vlp:>10.3f}"
              f"{exact_match(model, Xva, Yva, Lva):>9.1f}{majority:>11.1f}{time.time() - t0:>6.1f}")
print("sample decodes:")
for i, h in enumerate(greedy(model(Xva[:3]))):
    print(f"  {[int(v) for v in Yn[i, :Ln[i]]]} -> {h}")
