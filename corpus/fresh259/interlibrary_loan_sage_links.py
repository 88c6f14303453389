import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(11)
mx.random.seed(11)

# 300 libraries in 6 regional consortia; loans mostly inside a consortium,
# more likely between libraries with similar collection profiles
N, C = 300, 6
region = rng.integers(0, C, N)
profile = rng.normal(0, 1, (N, 5)) + np.eye(C, 5)[region] * 1.5
size = rng.lognormal(0, 0.5, N)
feat = np.concatenate([profile, np.log(size)[:, None], rng.normal(0, 0.3, (N, C))], 1).astype(np.float32)
pairs = []
for i in range(N):
    for j in range(i + 1, N):
        s = -2.6 + 1.8 * (region[i] == region[j]) + 0.35 * profile[i] @ profile[j] / 5 + 0.3 * (np.log(size[i]) + np.log(size[j]))
        if rng.random() < 1 / (1 + np.exp(-s)):
            pairs.append((i, j))
pairs = np.array(pairs)
rng.shuffle(pairs)
n_test = len(pairs) // 10
test_pos, val_pos, train_pos = pairs[:n_test], pairs[n_test:2 * n_test], pairs[2 * n_test:]
known = set(map(tuple, pairs))


def sample_non_edges(k):
    out = []
    while len(out) < k:
        i, j = sorted(rng.integers(0, N, 2))
        if i != j and (i, j) not in known:
            out.append((i, j))
    return np.array(out)


test_neg, val_neg = sample_non_edges(n_test), sample_non_edges(n_test)
src = mx.array(np.concatenate([train_pos[:, 0], train_pos[:, 1]]))
dst = mx.array(np.concatenate([train_pos[:, 1], train_pos[:, 0]]))
deg = mx.zeros((N,)).at[dst].add(1.0)
X = mx.array(feat)


class SageMean(nn.Module):
    def __init__(self, din, dout):
        super().__init__()
        self.self_lin = nn.Linear(din, dout)
        self.nb_lin = nn.Linear(din, dout, bias=False)

    def __call__(self, h):
        s = mx.zeros_like(h).at[dst].add(h[src])
        mean = s / mx.maximum(deg, 1.0)[:, None]
        return self.self_lin(h) + self.nb_lin(mean)


class LoanEncoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = SageMean(feat.shape[1], 48)
        self.c2 = SageMean(48, 32)

    def __call__(self):
        h = nn.relu(self.c1(X))
        return self.c2(h)


def score(z, e):
    return (z[e[:, 0]] * z[e[:, 1]]).sum(-1)


def auc(pos_s, neg_s):
    p, n = np.array(pos_s), np.array(neg_s)
    return float((p[:, None] > n[None]).mean() + 0.5 * (p[:, None] == n[None]).mean())


# reference: common-neighbour counts on the training graph
A = np.zeros((N, N)); A[train_pos[:, 0], train_pos[:, 1]] = 1; A += A.T
cn = A @ A
cn_auc = auc(cn[val_pos[:, 0], val_pos[:, 1]], cn[val_neg[:, 0], val_neg[:, 1]])

model = LoanEncoder()
opt = optim.SGD(learning_rate=0.05, momentum=0.9)


def loss_fn(model, pos, neg):
    z = model()
    ps, ns = score(z, pos), score(z, neg)
    return (nn.losses.binary_cross_entropy(ps, mx.ones_like(ps), with_logits=True, reduction="sum")
            + nn.losses.binary_cross_entropy(ns, mx.zeros_like(ns), with_logits=True, reduction="sum")) / ps.shape[0]


step_fn = nn.value_and_grad(model, loss_fn)
print(f"libraries {N}  loan links: train {len(train_pos)}  val {len(val_pos)}  test {len(test_pos)}")
print(f"common-neighbour reference AUC on val: {cn_auc:.3f}")
t0 = time.time()
stages = [("1 negative per loan", 1, 160), ("4 negatives per loan", 4, 160)]
for si, (label, k_neg, steps) in enumerate(stages, 1):
    print(f"--- stage {si}: {label} ---")
    print(f"{'step':>5} {'lr':>7} {'bce/loan':>9} {'val_auc':>8} {'cn_ref':>7}")
    run = []
    for step in range(1, steps + 1):
        lr = 0.05 * (0.3 if step > 110 else 1.0)
        opt.learning_rate = lr
        b = train_pos[rng.choice(len(train_pos), 512, replace=False)]
        neg = sample_non_edges(512 * k_neg)
        loss, g = step_fn(model, mx.array(b), mx.array(neg))
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        run.append(float(loss))
        if step % 40 == 0:
            z = model()
            va = auc(score(z, mx.array(val_pos)).tolist(), score(z, mx.array(val_neg)).tolist())
            print(f"{step:>5} {lr:>7.3f} {np.mean(run):>9.4f} {va:>8.3f} {cn_auc:>7.3f}")
            run = []
z = model()
ta = auc(score(z, mx.array(test_pos)).tolist(), score(z, mx.array(test_neg)).tolist())
cn_t = auc(cn[test_pos[:, 0], test_pos[:, 1]], cn[test_neg[:, 0], test_neg[:, 1]])
print(f"test AUC {ta:.3f} (common-neighbour {cn_t:.3f}, coin flip 0.500)  {time.time() - t0:.1f}s")
