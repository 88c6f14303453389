# Bobbin lace workshop: a contextual bandit picks one of 4 thread tensions for each pillow
# (context = 6 features); reward is noisy. REINFORCE with a moving-average baseline
# (mx.stop_gradient on the baseline), frozen random-projection feature layer on purpose.
import time
from string import Template
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

line = Template("round $r  |  mean reward $rw  (oracle $orc, random $rnd)  |  greedy regret $reg  |  entropy $ent nats  |  $secs s")
rng = np.random.default_rng(3)
W_true = rng.normal(size=(6, 4)).astype(np.float32)

def contexts(n):
    return rng.normal(size=(n, 6)).astype(np.float32)
def true_means(c):
    return np.tanh(c @ W_true * 0.7)          # expected reward per arm, in [-1, 1]

class Policy(nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(6, 32)          # fixed random features, frozen on purpose
        self.head = nn.Linear(32, 4)
    def __call__(self, x):
        return self.head(mx.tanh(self.proj(x)))

mx.random.seed(0)
pol = Policy(); pol.proj.freeze()
proj_before = mx.array(pol.proj.weight)
opt = optim.Adam(learning_rate=3e-3)

def pg_loss(m, x, a, adv):
    logp = nn.log_softmax(m(x), axis=-1)
    chosen = mx.take_along_axis(logp, a[:, None], axis=1).squeeze(1)
    return -mx.mean(chosen * mx.stop_gradient(adv))
vg = nn.value_and_grad(pol, pg_loss)

Ctest = contexts(2000); Mtest = true_means(Ctest)
def evaluate():
    logits = pol(mx.array(Ctest))
    greedy = np.array(mx.argmax(logits, axis=1))
    p = np.array(mx.softmax(logits, axis=1))
    ent = float(-(p * np.log(p + 1e-12)).sum(1).mean())
    regret = float((Mtest.max(1) - Mtest[np.arange(len(greedy)), greedy]).mean())
    return regret, ent

reg0, ent0 = evaluate()
print(f"untrained: greedy regret {reg0:.3f}, entropy {ent0:.3f} nats (uniform {np.log(4):.3f})")
baseline, t0, rewards = 0.0, time.time(), []
for r in range(1, 2501):
    c = contexts(64); x = mx.array(c)
    probs = mx.softmax(pol(x), axis=-1)
    a = mx.random.categorical(mx.log(probs))
    a_np = np.array(a)
    rew = true_means(c)[np.arange(64), a_np] + 0.5 * rng.normal(size=64)
    adv = mx.array((rew - baseline).astype(np.float32))
    baseline = 0.95 * baseline + 0.05 * float(rew.mean())
    loss, g = vg(pol, x, a, adv)
    if r == 1:
        fl = tree_flatten(g)
        print("first-step gradient leaves:", [k for k, _ in fl],
              "zero:", [k for k, v in fl if float(mx.max(mx.abs(v))) == 0.0])
    opt.update(pol, g); mx.eval(pol.parameters(), opt.state, loss)
    rewards.append(rew.mean())
    if r % 250 == 0:
        reg, ent = evaluate()
        print(line.substitute(r=r, rw=f"{np.mean(rewards):+.3f}", orc=f"{Mtest.max(1).mean():+.3f}",
                              rnd=f"{Mtest.mean():+.3f}", reg=f"{reg:.3f}", ent=f"{ent:.3f}",
                              secs=f"{time.time()-t0:.1f}"))
        rewards = []
drift = float(mx.max(mx.abs(pol.proj.weight - proj_before)))
print(f"done: frozen projection max drift {drift}, final greedy regret {evaluate()[0]:.3f} (lower is better)")
