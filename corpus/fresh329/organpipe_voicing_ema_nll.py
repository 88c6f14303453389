# Organ builder's voicing log: predict the pitch drift (cents) of a flue pipe
# after voicing, with an uncertainty estimate. Gaussian NLL can drop below zero.
# The model keeps a learnable log-scale per pipe rank; an EMA copy of the weights
# is built with tree_map and loaded with model.update for evaluation.
# The schedule uses warm restarts (cosine cycles that restart at full lr).
import time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map, tree_flatten

mx.random.seed(11)
RANKS, D = 5, 6

def make(n, seed):
    k1, k2, k3 = mx.random.split(mx.random.key(seed), 3)
    x = mx.random.normal((n, D), key=k1)
    r = mx.random.randint(0, RANKS, (n,), key=k2)
    mu = 2.0 * x[:, 0] - 1.2 * x[:, 1] * x[:, 2] + 0.8 * mx.sin(2.0 * x[:, 3]) + mx.array([0.0, 1.0, -1.0, 0.5, 2.0])[r]
    sd = mx.array([0.05, 0.1, 0.2, 0.4, 0.08])[r]
    return x, r, mu + sd * mx.random.normal((n,), key=k3), sd

xtr, rtr, ytr, _ = make(8000, 1)
xte, rte, yte, sdte = make(2000, 2)

class VoicingNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.rank_embed = nn.Embedding(RANKS, 8)
        self.trunk = nn.Sequential(nn.Linear(D + 8, 64), nn.GELU(), nn.Linear(64, 64), nn.GELU())
        self.mean_head = nn.Linear(64, 1)
        self.rank_log_scale = mx.zeros((RANKS,))
    def __call__(self, x, r):
        h = self.trunk(mx.concatenate([x, self.rank_embed(r)], axis=-1))
        return self.mean_head(h)[:, 0], self.rank_log_scale[r]

def nll(model, x, r, y):
    mu, log_s = model(x, r)
    return mx.mean(log_s + 0.5 * ((y - mu) / mx.exp(log_s)) ** 2) + 0.5 * mx.log(2 * mx.pi).item()

model = VoicingNet()
ema = tree_map(lambda p: p, model.parameters())
CYCLE, CYCLES = 600, 3
sched = optim.join_schedules([optim.cosine_decay(2e-3, CYCLE, 5e-5)] * CYCLES,
                             [CYCLE * (i + 1) for i in range(CYCLES - 1)])
opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)
vg = nn.value_and_grad(model, nll)

def evaluate(params):
    live = model.parameters()
    model.update(params)
    mu, log_s = model(xte, rte)
    out = nll(model, xte, rte, yte).item(), mx.sqrt(mx.mean((mu - yte) ** 2)).item(), mx.exp(log_s)
    model.update(live)
    return out

t0 = time.time()
n_par = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
base_rmse = mx.sqrt(mx.mean((yte - ytr.mean()) ** 2)).item()
base_nll = (0.5 * mx.log(2 * mx.pi * ytr.var()) + 0.5).item()
print(f"params {n_par}; baseline rmse {base_rmse:.3f}, baseline nll {base_nll:.3f}")
for step in range(CYCLE * CYCLES):
    idx = mx.random.randint(0, 8000, (256,))
    loss, g = vg(model, xtr[idx], rtr[idx], ytr[idx])
    opt.update(model, g)
    ema = tree_map(lambda e, p: 0.99 * e + 0.01 * p, ema, model.parameters())
    mx.eval(model.parameters(), opt.state, ema)
    if step % CYCLE == 0:
        print(f"cycle {step // CYCLE + 1} starts, lr {sched(step).item():.4f}")
    if (step + 1) % 300 == 0:
        t_nll, t_rmse, _ = evaluate(ema)
        print(f"step {step + 1:4d} train nll {loss.item():+.3f} | ema test nll {t_nll:+.3f} rmse {t_rmse:.3f}")

t_nll, t_rmse, scales = evaluate(ema)
print(f"final ema test nll {t_nll:+.3f} (baseline {base_nll:+.3f}), rmse {t_rmse:.3f} (baseline {base_rmse:.3f})")
print("ema rank noise (cents):", [round(v, 3) for v in mx.exp(ema["rank_log_scale"]).tolist()])
print(f"done in {time.time() - t0:.1f}s")
