"""Ski-jump landing distance (m) with a 2-component mixture density network.
Jumps either land clean or the jumper bails out early in a gust -> bimodal distances.
Three 'seasons' of warm restarts; each season's learning rate starts at exactly 0."""
import logging, math
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s hill=HS140 %(message)s")
log = logging.getLogger("mdn")
rng = np.random.default_rng(3)
mx.random.seed(3)

def jumps(n):
    speed = rng.normal(92, 1.5, n)          # km/h in-run
    wind = rng.normal(0, 1.2, n)            # m/s, + = head wind
    mass = rng.normal(60, 4, n)             # kg
    gate = rng.integers(8, 16, n)
    clean = 125 + 3.2 * (speed - 92) + 4.0 * wind - 0.4 * (mass - 60) + 1.5 * (gate - 12)
    bail_p = 1 / (1 + np.exp(-(-1.5 - 1.3 * wind)))   # tail wind -> more bail-outs
    bail = rng.random(n) < bail_p
    d = np.where(bail, clean - 28 + rng.normal(0, 6, n), clean + rng.normal(0, 2.5, n))
    x = np.stack([(speed - 92) / 1.5, wind / 1.2, (mass - 60) / 4, (gate - 12) / 2.3], 1)
    return mx.array(x.astype(np.float32)), mx.array(((d - 115) / 15).astype(np.float32))

xtr, ytr = jumps(6000)
xva, yva = jumps(1500)
K = 2

class MDN(nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(4, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh())
        self.out = nn.Linear(64, 3 * K)
    def __call__(self, x):
        h = self.out(self.trunk(x))
        logit, mu, logs = h[:, :K], h[:, K:2 * K], h[:, 2 * K:]
        return logit, mu, mx.clip(logs, -5, 3)

def nll(model, x, y):
    logit, mu, logs = model(x)
    z = (y[:, None] - mu) * mx.exp(-logs)
    comp = -0.5 * z * z - logs - 0.5 * math.log(2 * math.pi)
    lp = mx.logsumexp(nn.log_softmax(logit, axis=1) + comp, axis=1)
    return -lp.mean() + math.log(15.0)      # nats, in metres units

# one-Gaussian baseline on the training marginal
m, s = ytr.mean().item(), ytr.std().item()
base = (0.5 * math.log(2 * math.pi * s * s) + 0.5 + math.log(15.0))

model = MDN()
mx.eval(model.parameters())
lag = nn.value_and_grad(model, nll)
best, best_w, bad = float("inf"), None, 0
SEASON_STEPS, B = 600, 128
for season in range(3):
    sched = optim.join_schedules([optim.linear_schedule(0.0, 3e-3, 60),
                                  optim.cosine_decay(3e-3, SEASON_STEPS - 60, 1e-5)], [60])
    opt = optim.RMSprop(learning_rate=sched)     # fresh optimiser each season (warm restart)
    for it in range(SEASON_STEPS):
        idx = mx.array(rng.integers(0, 6000, B))
        loss, g = lag(model, xtr[idx], ytr[idx])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        if it == 0 and season == 0:
            from mlx.utils import tree_flatten
            dead = [k for k, v in tree_flatten(g) if mx.abs(v).max().item() == 0]
            log.info("grad audit: %d tensors, zero-grad: %s", len(tree_flatten(g)), dead or "none")
        if it % 150 == 0 or it == SEASON_STEPS - 1:
            v = nll(model, xva, yva).item()
            log.info("season %d it %4d | lr %.2e | train %.3f | val %.3f (1-gauss ref %.3f)",
                     season + 1, it, opt.learning_rate.item(), loss.item(), v, base)
            if v < best - 1e-3:
                best, bad = v, 0
                best_w = {k: mx.array(w) for k, w in tree_flatten(model.parameters())}
            else:
                bad += 1
    if bad >= 4:
        log.info("no val gain for %d checks, stopping after season %d", bad, season + 1)
        break
model.load_weights(list(best_w.items()))
final = nll(model, xva, yva).item()
logit, mu, logs = model(xva[:1])
log.info("restored best: val nll %.3f nats (ref %.3f), gap %.3f", final, base, base - final)
log.info("sample jump: p(bail)=%.2f, modes %.1f m / %.1f m",
         mx.softmax(logit, axis=1).min().item(), *(115 + 15 * mu[0]).tolist())
