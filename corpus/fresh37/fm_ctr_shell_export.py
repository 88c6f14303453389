# Factorization machine (Rendle 2010) for click-through prediction on synthetic one-hot fields
# (user 200, item 150, hour 24). Second-order term via the O(k n) identity
# 0.5 * sum_f [(sum_i v_if)^2 - sum_i v_if^2]. Adagrad, shuffled minibatches.
# Reports are printed as shell `export` lines so a wrapper could `eval` them.
import math, time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

mx.random.seed(11)
NU, NI, NH, K = 200, 150, 24, 6
N = NU + NI + NH
# ground truth: low-rank user x item affinity + hour effect
tu = mx.random.normal((NU, 3)); ti = mx.random.normal((NI, 3))
hour_eff = 0.6 * mx.sin(mx.arange(NH) * 2 * math.pi / 24)
def sample(n):
    u = mx.random.randint(0, NU, (n,)); i = mx.random.randint(0, NI, (n,)); h = mx.random.randint(0, NH, (n,))
    logit = 0.8 * mx.sum(tu[u] * ti[i], axis=1) + hour_eff[h] - 1.0
    y = (mx.random.uniform(shape=(n,)) < mx.sigmoid(logit)).astype(mx.float32)
    feats = mx.stack([u, NU + i, NU + NI + h], axis=1)
    return feats, y, logit
Xtr, Ytr, _ = sample(30000)
Xva, Yva, Lva = sample(5000)
oracle = mx.mean(nn.losses.binary_cross_entropy(Lva, Yva, with_logits=True)).item()
base_p = mx.mean(Ytr).item()
baseline = -(base_p * math.log(base_p) + (1 - base_p) * math.log(1 - base_p))

class FM(nn.Module):
    def __init__(self):
        super().__init__()
        self.w0 = mx.zeros((1,))
        self.w = nn.Embedding(N, 1)
        self.v = nn.Embedding(N, K)
        self.w.weight = mx.zeros((N, 1))
        self.v.weight = 0.05 * mx.random.normal((N, K))
    def __call__(self, f):
        lin = self.w0 + mx.sum(self.w(f)[..., 0], axis=1)
        e = self.v(f)
        inter = 0.5 * mx.sum(mx.square(mx.sum(e, axis=1)) - mx.sum(mx.square(e), axis=1), axis=1)
        return lin + inter

def auc(scores, y):
    order = mx.argsort(scores)
    ranks = mx.zeros_like(scores).at[order].add(mx.arange(1, scores.shape[0] + 1).astype(mx.float32))
    npos = mx.sum(y); nneg = y.shape[0] - npos
    return ((mx.sum(ranks * y) - npos * (npos + 1) / 2) / (npos * nneg)).item()

model = FM()
opt = optim.Adagrad(learning_rate=0.1)
def loss_fn(m, f, y):
    return mx.mean(nn.losses.binary_cross_entropy(m(f), y, with_logits=True)) + 1e-5 * mx.sum(m.v.weight ** 2)
vg = nn.value_and_grad(model, loss_fn)
_, g0 = vg(model, Xtr[:1024], Ytr[:1024])
print("# grad-leaf max|g|: " + ", ".join(f"{k}={mx.max(mx.abs(g)).item():.2e}" for k, g in tree_flatten(g0)))
print(f"# base rate {base_p:.3f}; constant-predictor logloss {baseline:.4f}; oracle val logloss {oracle:.4f}")
print("# eval these lines in bash; last assignment wins")
B = 256
t0 = time.time()
for ep in range(1, 13):
    perm = mx.random.permutation(Xtr.shape[0])
    tot, nb = 0.0, 0
    for s in range(0, Xtr.shape[0], B):
        idx = perm[s:s + B]
        loss, g = vg(model, Xtr[idx], Ytr[idx])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item(); nb += 1
    sc = model(Xva)
    vl = mx.mean(nn.losses.binary_cross_entropy(sc, Yva, with_logits=True)).item()
    print(f"export FM_EPOCH={ep} FM_TRAIN_LOGLOSS={tot/nb:.4f} FM_VAL_LOGLOSS={vl:.4f} "
          f"FM_VAL_AUC={auc(sc, Yva):.4f} FM_SECS={time.time()-t0:.1f}")
print("export FM_STATUS=done")
