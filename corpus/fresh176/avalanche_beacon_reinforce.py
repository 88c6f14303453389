# Avalanche transceiver search drill: learn which way to step from a beacon reading.
# Contextual-bandit REINFORCE with a running-mean baseline, Adagrad.
import math, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(176)
mx.random.seed(176)
HEADINGS = np.array([0.0, 0.5 * math.pi, math.pi, 1.5 * math.pi])  # N E S W

def drill(n):
    theta = rng.uniform(0, 2 * math.pi, n)               # true bearing to the buried beacon
    dist = rng.uniform(3, 60, n)                          # metres
    flux = theta + rng.normal(0, 0.35 + dist / 120, n)    # flux line read off the display, noisier far away
    sig = -20 * np.log10(dist) + rng.normal(0, 1.5, n)    # dB
    density = rng.uniform(200, 450, n) / 300
    batt = rng.uniform(0.2, 1.0, n)
    x = np.stack([np.sin(flux), np.cos(flux), sig / 20 + 2, dist / 30, density, batt], 1)
    return x.astype(np.float32), theta

def gain(actions, theta):
    # metres gained toward the victim per stride, noisy footing
    return np.cos(HEADINGS[actions] - theta) + rng.normal(0, 0.6, len(theta))

class Policy(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(6, 48)
        self.l2 = nn.Linear(48, 4)
    def __call__(self, x):
        return self.l2(mx.tanh(self.l1(x)))

pol = Policy()
opt = optim.Adagrad(learning_rate=0.006)

def pg_loss(p, x, a, adv):
    logits = p(x)
    logp = logits - mx.logsumexp(logits, axis=1, keepdims=True)
    chosen = mx.take_along_axis(logp, a[:, None], axis=1)[:, 0]
    ent = -(mx.exp(logp) * logp).sum(1).mean()
    return -(chosen * adv).mean() - 0.01 * ent, ent

lg = nn.value_and_grad(pol, pg_loss)

xe, te = drill(4000)
oracle = float(np.mean(np.max(np.cos(HEADINGS[None, :] - te[:, None]), 1)))

def greedy_gain():
    a = np.array(mx.argmax(pol(mx.array(xe)), axis=1))
    return float(np.mean(np.cos(HEADINGS[a] - te)))

UPD, B = 400, 256
baseline = 0.0
t0 = time.time()
print(f"drill start: greedy {greedy_gain():+.3f} m/stride   random ~ +0.000   oracle {oracle:+.3f}")
for u in range(1, UPD + 1):
    x, th = drill(B)
    logits = pol(mx.array(x))
    a = np.array(mx.random.categorical(logits))
    r = gain(a, th)
    adv = r - baseline
    baseline = 0.9 * baseline + 0.1 * float(r.mean())
    (loss, ent), g = lg(pol, mx.array(x), mx.array(a), mx.array(adv.astype(np.float32)))
    opt.update(pol, g)
    mx.eval(pol.parameters(), opt.state, loss)
    if u % 40 == 0:
        fill = int(20 * u / UPD)
        bar = "#" * fill + "." * (20 - fill)
        print(f"search {u:3d}/{UPD} |{bar}| sampled {r.mean():+.3f} greedy {greedy_gain():+.3f} "
              f"(oracle {oracle:+.3f}) H={float(ent):.2f} pg={float(loss):+.4f} [{time.time()-t0:4.1f}s]")
print(f"done: greedy gain {greedy_gain():+.3f} m/stride, {100*greedy_gain()/oracle:.1f}% of oracle")
