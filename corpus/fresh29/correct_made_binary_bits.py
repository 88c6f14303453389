# MADE (masked autoencoder for distribution estimation) on 16-bit binary vectors
# drawn from a mixture of 6 Bernoulli prototypes; report NLL in bits/vector.
import math, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

D, H, K = 16, 64, 6
rng = np.random.default_rng(7)
protos = np.clip(rng.random((K, D)) ** 3 * 1.15, 0.03, 0.97)
protos = np.where(rng.random((K, D)) < 0.5, protos, 1 - protos)
mixw = np.full(K, 1.0 / K)

def sample(n):
    z = rng.integers(0, K, n)
    return (rng.random((n, D)) < protos[z]).astype(np.float32)

def true_nll_bits(x):
    lp = x[:, None, :] * np.log(protos[None]) + (1 - x[:, None, :]) * np.log(1 - protos[None])
    lp = lp.sum(-1) + np.log(mixw)[None]
    m = lp.max(1, keepdims=True)
    return float(-(m[:, 0] + np.log(np.exp(lp - m).sum(1))).mean() / math.log(2))

xtr, xte = sample(6000), sample(2000)
ref = true_nll_bits(xte)

# MADE masks (natural ordering, hidden degrees cycle 1..D-1)
deg_in = np.arange(1, D + 1)
deg_h1 = (np.arange(H) % (D - 1)) + 1
deg_h2 = ((np.arange(H) + 5) % (D - 1)) + 1
M1 = (deg_h1[:, None] >= deg_in[None, :]).astype(np.float32)      # H x D
M2 = (deg_h2[:, None] >= deg_h1[None, :]).astype(np.float32)      # H x H
M3 = (deg_in[:, None] > deg_h2[None, :]).astype(np.float32)       # D x H
MASKS = [mx.array(M1), mx.array(M2), mx.array(M3)]

class MADE(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(D, H)
        self.l2 = nn.Linear(H, H)
        self.l3 = nn.Linear(H, D)
    def __call__(self, x):
        m1, m2, m3 = MASKS
        h = nn.relu(x @ (self.l1.weight * m1).T + self.l1.bias)
        h = nn.relu(h @ (self.l2.weight * m2).T + self.l2.bias)
        return h @ (self.l3.weight * m3).T + self.l3.bias

def nll_bits(model, x):
    logits = model(x)
    return nn.losses.binary_cross_entropy(logits, x, reduction="none").sum(-1).mean() / math.log(2)

model = MADE()
mx.eval(model.parameters())
opt = optim.Adam(learning_rate=3e-3)
step = nn.value_and_grad(model, nll_bits)
Xte = mx.array(xte)

print(f"MADE  D={D}  hidden={H}x2  train={len(xtr)}  true-model test NLL = {ref:.3f} bits")
t0 = time.time()
for ep in range(1, 31):
    perm = rng.permutation(len(xtr))
    tot = 0.0
    for i in range(0, len(xtr), 100):
        xb = mx.array(xtr[perm[i:i + 100]])
        loss, g = step(model, xb)
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item() * xb.shape[0]
    if ep in (1, 2, 3) or ep % 3 == 0:
        te = nll_bits(model, Xte).item()
        print(f"epoch {ep:02d} > train {tot/len(xtr):7.3f} bits > test {te:7.3f} bits > gap-to-true {te-ref:+.3f} bits > {time.time()-t0:5.1f}s")
print("done")
