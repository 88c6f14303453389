import os, tempfile, time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(7)
# toy phylogeny: binary tree depth 5 -> 63 taxa; pairs = (descendant, ancestor)
N = 63
parent = [-1] + [(i - 1) // 2 for i in range(1, N)]
pairs = []
for i in range(1, N):
    a = parent[i]
    while a >= 0:
        pairs.append((i, a)); a = parent[a]
P = mx.array(pairs)
depth = [0] * N
for i in range(1, N): depth[i] = depth[parent[i]] + 1
NEG = 16

def lorentz_expmap0(v):
    # v: (..., d) tangent at origin -> point on hyperboloid (..., d+1)
    n = mx.sqrt(mx.sum(v * v, axis=-1, keepdims=True) + 1e-9)
    return mx.concatenate([mx.cosh(n), mx.sinh(n) * v / n], axis=-1)

def lorentz_dist(x, y):
    inner = -x[..., :1] * y[..., :1] + mx.sum(x[..., 1:] * y[..., 1:], axis=-1, keepdims=True)
    z = mx.maximum(-inner[..., 0], 1.0 + 1e-6)
    return mx.log(z + mx.sqrt(z * z - 1.0))

class Taxa(nn.Module):
    def __init__(self, n, d):
        super().__init__()
        self.tangent = mx.random.normal((n, d)) * 1e-2
    def __call__(self, idx):
        return lorentz_expmap0(self.tangent[idx])

def loss_fn(model, u, v, negs):
    pu = model(u)[:, None, :]
    cand = mx.concatenate([v[:, None], negs], axis=1)
    d = lorentz_dist(pu, model(cand))
    return nn.losses.cross_entropy(-d, mx.zeros(u.shape[0], dtype=mx.int32), reduction="mean")

def evaluate(model):
    X = model(mx.arange(N))
    D = lorentz_dist(X[:, None, :], X[None, :, :])
    ranks = []
    for (u, v) in pairs[::3]:
        row = D[u]
        ranks.append(int(mx.sum(row < row[v]).item()))
    loglik = -float(loss_fn(model, P[:, 0], P[:, 1], mx.random.randint(0, N, (P.shape[0], NEG))).item())
    norms = mx.sqrt(mx.sum(model.tangent ** 2, axis=-1))
    return sum(ranks) / len(ranks), loglik, norms

TOTAL, WARM, BS = 1600, 200, 96
sched = optim.join_schedules([optim.linear_schedule(0.0, 5e-2, WARM),
                              optim.cosine_decay(5e-2, TOTAL - WARM, 5e-3)], [WARM])

def make(step0=0):
    m = Taxa(N, 4)
    o = optim.Adam(learning_rate=sched)
    return m, o

model, opt = make()
vg = nn.value_and_grad(model, loss_fn)
base_rank, base_ll, _ = evaluate(model)
print(f"baseline (untrained) mean_rank={base_rank:.2f} loglik={base_ll:.3f} (chance loglik={-mx.log(mx.array(NEG+1.0)).item():.3f})")
ckdir = tempfile.mkdtemp()
t0 = time.time()
step = 0
while step < TOTAL:
    idx = mx.random.randint(0, P.shape[0], (BS,))
    b = P[idx]
    negs = mx.random.randint(0, N, (BS, NEG))
    loss, g = vg(model, b[:, 0], b[:, 1], negs)
    opt.update(model, g)
    mx.eval(model.parameters(), opt.state)
    step += 1
    if step % 200 == 0 or step == 1:
        r, ll, nm = evaluate(model)
        print(f"step {step:5d} lr={float(opt.learning_rate):.5f} loss={loss.item():.4f} loglik={ll:+.4f} mean_rank={r:.2f} max_tangent_norm={nm.max().item():.3f}")
    if step == TOTAL // 2:
        ck = os.path.join(ckdir, "taxa.safetensors")
        model.save_weights(ck)
        mx.save_safetensors(os.path.join(ckdir, "opt.safetensors"), dict(nn.utils.tree_flatten(opt.state)))
        print(f"checkpoint written at step {step}; restarting process state from disk")
        model, opt = make()
        model.load_weights(ck)
        opt.init(model.trainable_parameters())
        st = mx.load(os.path.join(ckdir, "opt.safetensors"))
        from mlx.utils import tree_unflatten
        opt.state = tree_unflatten(list(st.items()))
        vg = nn.value_and_grad(model, loss_fn)
        r, ll, _ = evaluate(model)
        print(f"resumed at step {int(opt.state['step'].item())} mean_rank={r:.2f}")
r, ll, nm = evaluate(model)
by_depth = {}
for i in range(N): by_depth.setdefault(depth[i], []).append(nm[i].item())
print("final mean_rank=%.2f (baseline %.2f) loglik=%+.4f elapsed=%.1fs" % (r, base_rank, ll, time.time() - t0))
print("tangent norm by depth: " + " ".join(f"d{k}={sum(v)/len(v):.2f}" for k, v in sorted(by_depth.items())))
