import time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

# Pottery kiln: predict glaze crawl score from 20 synthetic firing-log features.
mx.random.seed(7)
N_TR, N_VA, D = 3000, 600, 20
true_w = mx.concatenate([mx.array([1.5, -2.0, 0.8, 1.1, -0.6]), mx.zeros((D - 5,))])

def make(n):
    x = mx.random.normal((n, D))
    y = x @ true_w + 0.7 * mx.tanh(x[:, 0] * x[:, 1]) + 0.3 * mx.random.normal((n,))
    return x, y[:, None]

xtr, ytr = make(N_TR)
xva, yva = make(N_VA)
mean_baseline = mx.mean((yva - mx.mean(ytr)) ** 2).item()

class DropPath(nn.Module):
    def __init__(self, p):
        super().__init__()
        self.p = p
    def __call__(self, h):
        if not self.training or self.p == 0.0:
            return h
        keep = mx.random.bernoulli(1.0 - self.p, (h.shape[0], 1))
        return h * keep / (1.0 - self.p)

class Block(nn.Module):
    def __init__(self, w, p):
        super().__init__()
        self.norm = nn.LayerNorm(w)
        self.fc1 = nn.Linear(w, 2 * w)
        self.fc2 = nn.Linear(2 * w, w)
        self.dp = DropPath(p)
    def __call__(self, h):
        return h + self.dp(self.fc2(nn.gelu(self.fc1(self.norm(h)))))

class Net(nn.Module):
    def __init__(self, depth=6, w=48, pmax=0.3):
        super().__init__()
        self.inp = nn.Linear(D, w)
        self.blocks = [Block(w, pmax * i / (depth - 1)) for i in range(depth)]
        self.out = nn.Linear(w, 1)
    def __call__(self, x):
        h = self.inp(x)
        for b in self.blocks:
            h = b(h)
        return self.out(h)

model = Net()
print("drop rates per block:", [round(b.dp.p, 3) for b in model.blocks])
L1 = 2e-3

def loss_fn(m, x, y):
    mse = mx.mean((m(x) - y) ** 2)
    pen = L1 * mx.sum(mx.abs(m.inp.weight))
    return mse + pen, mse

sched = optim.join_schedules([optim.linear_schedule(0.0, 2e-3, 50), optim.cosine_decay(2e-3, 850, 1e-5)], [50])
opt = optim.AdamW(learning_rate=sched, weight_decay=0.02)
step_fn = nn.value_and_grad(model, loss_fn)

def val_mse():
    model.eval()
    v = mx.mean((model(xva) - yva) ** 2).item()
    model.train()
    return v

print(f"mean-predictor val mse {mean_baseline:.3f}  noise floor ~0.09")
print(f"epoch 0 val mse {val_mse():.3f}")
best, best_ep, patience, wait = float("inf"), 0, 6, 0
best_params = None
t0 = time.time(); BS = 200
for ep in range(1, 61):
    perm = mx.random.permutation(N_TR)
    tot, totmse = 0.0, 0.0
    for i in range(0, N_TR, BS):
        idx = perm[i:i + BS]
        (l, mse), g = step_fn(model, xtr[idx], ytr[idx])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, l, mse)
        tot += l.item(); totmse += mse.item()
    nb = N_TR // BS
    v = val_mse()
    if v < best - 1e-4:
        best, best_ep, wait = v, ep, 0
        best_params = [(k, mx.array(a)) for k, a in nn.utils.tree_flatten(model.parameters())]
    else:
        wait += 1
    if ep % 5 == 0 or ep <= 2:
        print(f"epoch {ep:2d} lr {opt.learning_rate.item():.2e} train total {tot/nb:.3f} (mse {totmse/nb:.3f}) val mse {v:.3f} best {best:.3f}@{best_ep}")
    if wait >= patience:
        print(f"no val gain for {patience} epochs, stopping at epoch {ep}")
        break

model.update(nn.utils.tree_unflatten(best_params))
w_in = mx.abs(model.inp.weight).sum(axis=0)
print("input-column |w| sums (first 5 informative):", [round(x, 2) for x in w_in.tolist()[:8]])
print(f"restored epoch {best_ep}: val mse {val_mse():.3f} vs mean baseline {mean_baseline:.3f}  ({time.time()-t0:.1f}s)")
