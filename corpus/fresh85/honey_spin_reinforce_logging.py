"""Honey extractor: learn a spin speed per frame (Gaussian policy, REINFORCE with a baseline).
Reward = honey recovered minus comb damage, noisy. Regret is lower-is-better."""
import logging, math, sys, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

logging.basicConfig(stream=sys.stdout, level=logging.INFO,
                    format="%(asctime)s.%(msecs)03d %(levelname)s extractor: %(message)s", datefmt="%H:%M:%S")
log = logging.getLogger()
rng = np.random.default_rng(5)

def best_speed(ctx):   # made-up optimum (standardised speed units)
    return 0.8 * np.tanh(ctx[:, 0]) - 0.5 * ctx[:, 1] + 0.3 * ctx[:, 2] * ctx[:, 3]

def reward(ctx, a):    # quadratic around the optimum, noise sd 0.3
    return 1.0 - (a - best_speed(ctx)) ** 2 + rng.normal(0, 0.3, len(a))

class Policy(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(4, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh())
        self.mean = nn.Linear(64, 1)
        self.log_std = mx.array([0.0])
    def __call__(self, x):
        return self.mean(self.body(x)).squeeze(-1), self.log_std

def pg_loss(pol, ctx, act, adv):
    m, ls = pol(ctx)
    logp = -0.5 * ((act - m) / mx.exp(ls)) ** 2 - ls - 0.5 * math.log(2 * math.pi)
    return -mx.mean(logp * adv)

pol = Policy()
opt = optim.RMSprop(learning_rate=1e-3)
vg = nn.value_and_grad(pol, pg_loss)
ctx_eval = rng.normal(size=(2000, 4)).astype(np.float32)

def greedy_regret():
    m, _ = pol(mx.array(ctx_eval))
    return float(np.mean((np.array(m) - best_speed(ctx_eval)) ** 2))

log.info("frames per batch 256, 1500 batches; zero-action regret %.3f", float(np.mean(best_speed(ctx_eval) ** 2)))
log.info("batch 0 greedy regret %.3f std %.3f", greedy_regret(), math.exp(pol.log_std.item()))
baseline, t0, win = 0.0, time.time(), []
for it in range(1, 1501):
    ctx = rng.normal(size=(256, 4)).astype(np.float32)
    m, ls = pol(mx.array(ctx))
    act = np.array(m) + math.exp(ls.item()) * rng.normal(size=256).astype(np.float32)
    r = reward(ctx, act)
    adv = r - baseline
    adv = (adv - adv.mean()) / (adv.std() + 1e-6)
    baseline = 0.95 * baseline + 0.05 * r.mean() if it > 1 else r.mean()
    loss, g = vg(pol, mx.array(ctx), mx.array(act, dtype=mx.float32), mx.array(adv, dtype=mx.float32))
    if it == 1:
        leaves = tree_flatten(g)
        log.info("grad check: %d leaves, zero leaves %s", len(leaves),
                 [k for k, v in leaves if float(mx.abs(v).sum()) == 0.0] or "none")
    opt.update(pol, g)
    mx.eval(pol.parameters(), opt.state, loss)
    win.append(r.mean())
    if it % 150 == 0:
        log.info("batch %4d mean reward %+.3f (last 150) greedy regret %.4f policy std %.3f surrogate %+.4f %.1fs",
                 it, np.mean(win), greedy_regret(), math.exp(pol.log_std.item()), loss.item(), time.time() - t0)
        win = []
log.info("done; noise-free best reward 1.000, reward noise sd 0.30")
