"""Learning from crowds: a classifier trained only on noisy labels from 5
simulated annotators, through a per-annotator learned confusion matrix
("crowd layer"). Held-out accuracy is measured against the hidden true labels."""
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(7)
mx.random.seed(7)
K, D, A = 4, 24, 5             # classes, features, annotators
N_TR, N_TE = 8000, 1000

means = rng.normal(0, 0.6, size=(K, D))
def make(n):
    y = rng.integers(0, K, size=n)
    x = means[y] + rng.normal(0, 1.0, size=(n, D))
    return x.astype(np.float32), y

xtr, ytr = make(N_TR)
xte, yte = make(N_TE)

# annotator reliabilities: two good, one mediocre, one near-random, one adversarial-ish (swaps 0<->1)
true_conf = []
for acc in (0.9, 0.85, 0.6, 0.3):
    c = np.full((K, K), (1 - acc) / (K - 1)); np.fill_diagonal(c, acc); true_conf.append(c)
swap = np.full((K, K), 0.04); swap[0, 1] = swap[1, 0] = 0.88; swap[2, 2] = swap[3, 3] = 0.88
swap = swap / swap.sum(1, keepdims=True); true_conf.append(swap)
noisy = np.stack([[rng.choice(K, p=true_conf[a][t]) for t in ytr] for a in range(A)], axis=1)  # (N, A)
print(f"majority-vote label accuracy on train: {(np.array([np.bincount(r, minlength=K).argmax() for r in noisy]) == ytr).mean():.3f}")


class CrowdNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(D, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, K))
        # per-annotator confusion logits, initialised near identity
        self.conf_logits = mx.array(np.stack([np.eye(K) * 2.0 for _ in range(A)]).astype(np.float32))

    def __call__(self, x):
        return self.body(x)


def loss_fn(model, x, ann):
    p_true = mx.softmax(model(x), axis=-1)                     # (B, K)
    conf = mx.softmax(model.conf_logits, axis=-1)              # (A, K_true, K_obs)
    p_obs = mx.einsum("bk,akj->baj", p_true, conf)             # (B, A, K_obs)
    p_pick = mx.take_along_axis(p_obs, ann[..., None], axis=-1).squeeze(-1)
    return -mx.mean(mx.log(p_pick + 1e-7))


model = CrowdNet()
opt = optim.AdamW(learning_rate=1e-3, weight_decay=0.05)
vg = nn.value_and_grad(model, loss_fn)

X, ANN = mx.array(xtr), mx.array(noisy.astype(np.int32))
XT = mx.array(xte)

# sanity: every leaf gets a gradient at step 1
_, g0 = vg(model, X[:128], ANN[:128])
zero_leaves = [k for k, v in tree_flatten(g0) if float(mx.abs(v).max()) == 0.0]
print("leaves with zero grad at step 1:", zero_leaves or "none")

bs = 64
acc0 = (np.array(mx.argmax(model(XT), axis=-1)) == yte).mean()
print(f"epoch  0  crowd-nll    -    heldout-true-acc {acc0:.3f}")
for epoch in range(1, 21):
    perm = rng.permutation(N_TR)
    tot = 0.0
    for i in range(0, N_TR, bs):
        idx = mx.array(perm[i:i + bs])
        loss, g = vg(model, X[idx], ANN[idx])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item() * len(perm[i:i + bs])
    acc = (np.array(mx.argmax(model(XT), axis=-1)) == yte).mean()
    print(f"epoch {epoch:2d}  crowd-nll {tot / N_TR:.4f}  heldout-true-acc {acc:.3f}")

est = np.array(mx.softmax(model.conf_logits, axis=-1))
print("\nannotator | est. diag mean | true diag mean")
for a in range(A):
    print(f"   {a}      |     {np.diag(est[a]).mean():.3f}      |     {np.diag(true_conf[a]).mean():.3f}")
