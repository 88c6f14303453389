# Tennis analytics: P(server holds a game | per-point serve-win prob, pressure tweak), learned from simulated games.
import time
from functools import partial
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(11)

def hold_prob(p):
    # closed form for winning a game from 0-0 with deuce
    q = 1 - p
    pre = p**4 * (1 + 4 * q + 10 * q**2)
    deuce = 20 * p**3 * q**3 * p**2 / (p**2 + q**2)
    return pre + deuce

def simulate(p, dp_break):
    # play one game point by point; on break points the server's p changes by dp_break
    s = r = 0
    while True:
        bp = r >= 3 and r > s
        pp = np.clip(p + (dp_break if bp else 0.0), 0.01, 0.99)
        if rng.random() < pp: s += 1
        else: r += 1
        if s >= 4 and s - r >= 2: return 1
        if r >= 4 and r - s >= 2: return 0

n = 16000
P = rng.uniform(0.35, 0.80, n)
D = rng.uniform(-0.10, 0.10, n)
Y = np.array([simulate(p, d) for p, d in zip(P, D)], np.float32)
X = np.stack([(P - 0.575) / 0.13, D / 0.058, (hold_prob(P) - 0.6) / 0.3], 1).astype(np.float32)
ntr = 13000
Xtr, Ytr, Xva, Yva = mx.array(X[:ntr]), mx.array(Y[:ntr]), mx.array(X[ntr:]), mx.array(Y[ntr:])
Pva, Dva = P[ntr:], D[ntr:]

mx.random.seed(5)
model = nn.Sequential(nn.Linear(3, 32), nn.Tanh(), nn.Linear(32, 32), nn.Tanh(), nn.Linear(32, 1))
opt = optim.SGD(learning_rate=0.05, momentum=0.9, nesterov=True)

def loss_fn(m, x, y):
    return nn.losses.binary_cross_entropy(m(x).squeeze(-1), y, with_logits=True, reduction="mean")

state = [model.state, opt.state]
@partial(mx.compile, inputs=state, outputs=state)
def step(x, y):
    loss, g = nn.value_and_grad(model, loss_fn)(model, x, y)
    opt.update(model, g)
    return loss

t0 = time.time()
print("; <<>> DiG 9.18.24 <<>> hold.tennis.model IN TXT +train")
print(";; global options: +cmd")
l0, g0 = nn.value_and_grad(model, loss_fn)(model, Xtr[:256], Ytr[:256])
lv = tree_flatten(g0)
nz = sum(1 for _, v in lv if float(mx.abs(v).max()) > 0)
print(f";; ->>HEADER<<- opcode: QUERY, status: NOERROR, id: {len(lv)}{nz:02d}")
print(f";; gradcheck: leaves={len(lv)} nonzero={nz} loss0={l0.item():.4f}")
base = float(Yva.mean().item())
base_bce = -(base * np.log(base) + (1 - base) * np.log(1 - base))
print(f";; prior: hold rate {base:.3f}, constant-prior bce {base_bce:.4f}, Bernoulli noise floor unknown (simulated games)")
print(";; ANSWER SECTION:")
B = 50
for epoch in range(1, 41):
    perm = mx.array(rng.permutation(ntr))
    acc = 0.0; nb = ntr // B
    for i in range(nb):
        idx = perm[i * B:(i + 1) * B]
        loss = step(Xtr[idx], Ytr[idx])
        mx.eval(state, loss)
        acc += loss.item()
    logits = model(Xva).squeeze(-1)
    vbce = nn.losses.binary_cross_entropy(logits, Yva, with_logits=True, reduction="mean").item()
    prob = np.array(mx.sigmoid(logits))
    vacc = float(((prob > 0.5) == (np.array(Yva) > 0.5)).mean())
    # calibration vs closed form where pressure effect is small
    m = np.abs(Dva) < 0.02
    cal = float(np.abs(prob[m] - hold_prob(Pva[m])).mean())
    ms = int((time.time() - t0) * 1000)
    print(f"epoch{epoch:02d}.hold.tennis.model. {ms:6d} IN TXT \"train_bce={acc / nb:.4f}\" \"valid_bce={vbce:.4f}\" "
          f"\"valid_acc={vacc:.3f}\" \"calib_mae={cal:.4f}\"")
print()
for p, d in [(0.62, 0.0), (0.62, -0.08), (0.50, 0.0), (0.72, 0.05)]:
    x = mx.array(np.array([[(p - 0.575) / 0.13, d / 0.058, (hold_prob(p) - 0.6) / 0.3]], np.float32))
    pm = mx.sigmoid(model(x)).item()
    print(f"probe.p{int(p*100)}.d{int(d*100):+d}.hold.tennis.model. 0 IN A \"model={pm:.3f}\" \"closed_form_no_pressure={hold_prob(p):.3f}\"")
print(f";; Query time: {int((time.time() - t0) * 1000)} msec")
print(f";; MSG SIZE  rcvd: {ntr} train games, {n - ntr} valid games")
