# Falconry mews log: will a hawk fly to the lure on a given morning
# (3 outcomes: flies clean / flies late / refuses) from weight and weather
# readings. Dropout MLP, one compiled step that carries the random state;
# the short last batch of each epoch gets its own cached trace.
import time
from functools import partial
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(21)
def make(n):
    w = rng.normal(0, 1, n)        # weight vs flying weight (g, scaled)
    wind = rng.gamma(2, 1, n)      # wind m/s
    rain = rng.binomial(1, 0.3, n) # rain flag
    temp = rng.normal(8, 6, n)     # temperature C
    days = rng.integers(0, 30, n)  # days since last flight
    moult = rng.binomial(1, 0.2, n)
    logits = np.stack([
        1.2 - 1.5 * w - 0.3 * wind - 0.8 * rain + 0.02 * days,
        0.3 + 0.4 * w + 0.1 * wind + 0.03 * np.abs(temp - 10),
        -1.0 + 1.3 * w + 0.35 * wind + 0.9 * rain + 1.1 * moult], 1)
    g = rng.gumbel(size=logits.shape)
    y = (logits + g).argmax(1)
    X = np.stack([w, wind, rain, temp, days, moult], 1).astype(np.float32)
    return X, y.astype(np.int32)
Xtr, ytr = make(5000); Xva, yva = make(1500)
mu, sd = Xtr.mean(0), Xtr.std(0)
Xtr, Xva = (Xtr - mu) / sd, (Xva - mu) / sd
Xtr, ytr, Xva, yva = map(mx.array, (Xtr, ytr, Xva, yva))

class Mews(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(6, 96); self.l2 = nn.Linear(96, 96); self.out = nn.Linear(96, 3)
        self.drop = nn.Dropout(0.3)
    def __call__(self, x):
        x = self.drop(nn.relu(self.l1(x)))
        x = self.drop(nn.relu(self.l2(x)))
        return self.out(x)

mx.random.seed(4)
model = Mews()
opt = optim.Adam(learning_rate=2e-3)
traces = [0]

def loss_fn(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")

state = [model.state, opt.state, mx.random.state]
@partial(mx.compile, inputs=state, outputs=state)
def step(x, y):
    traces[0] += 1
    loss, g = nn.value_and_grad(model, loss_fn)(model, x, y)
    opt.update(model, g)
    return loss

def evaluate():
    model.eval()
    logits = model(Xva)
    ce = nn.losses.cross_entropy(logits, yva, reduction="mean").item()
    acc = (logits.argmax(1) == yva).mean().item()
    model.train()
    return ce, acc

prior = np.bincount(np.array(ytr), minlength=3) / 5000
base = -np.mean(np.log(prior[np.array(yva)]))
print(f"class shares {np.round(prior, 3).tolist()}  prior-only valid CE {base:.4f}  majority acc {np.mean(np.array(yva) == prior.argmax()):.3f}")
B = 192  # 5000 = 26*192 + 8, so every epoch ends on a batch of 8
t0 = time.time()
for ep in range(1, 25):
    perm = mx.array(np.random.default_rng(ep).permutation(5000))
    tot, n = 0.0, 0
    sizes = set()
    for s in range(0, 5000, B):
        idx = perm[s:s + B]
        loss = step(Xtr[idx], ytr[idx])
        mx.eval(state, loss)
        tot += loss.item() * idx.shape[0]; n += idx.shape[0]; sizes.add(idx.shape[0])
    ce, acc = evaluate()
    if ep in (1, 2, 3) or ep % 3 == 0:
        print(f"ep {ep:2d} | train CE (dropout on) {tot / n:.4f} | valid CE {ce:.4f} | valid acc {100 * acc:5.1f}% | batch sizes {sorted(sizes)} | traces {traces[0]} | {time.time() - t0:4.1f}s")
print(f"done after {traces[0]} trace(s); valid CE {ce:.4f} vs prior-only {base:.4f}")
