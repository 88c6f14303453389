# Daily demand forecasting: learned linear trend + Fourier weekly/yearly seasonality
# + small GELU MLP on temperature; Gaussian NLL with a learned log-sigma.
# Log lines imitate METAR aviation weather reports.
import math, random, time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

random.seed(3); mx.random.seed(3)
N = 3 * 365
t = [i for i in range(N)]
temp = [15 + 10 * math.sin(2 * math.pi * (i - 100) / 365) + random.gauss(0, 3) for i in t]
def truth(i, tc):
    return (50 + 0.02 * i + 8 * math.sin(2 * math.pi * i / 7) + 4 * math.cos(2 * math.pi * i / 7)
            + 12 * math.sin(2 * math.pi * i / 365.25) + 0.04 * (tc - 18) ** 2)
SIG = 3.0
y = [truth(i, temp[i]) + random.gauss(0, SIG) for i in t]

def feats(idx):
    rows = []
    for i in idx:
        f = [i / N]
        for per, K in ((7.0, 3), (365.25, 4)):
            for k in range(1, K + 1):
                a = 2 * math.pi * k * i / per
                f += [math.sin(a), math.cos(a)]
        rows.append(f)
    return mx.array(rows)

idx = list(range(N)); random.shuffle(idx)
tr, va = idx[: int(0.8 * N)], idx[int(0.8 * N):]
Xtr, Xva = feats(tr), feats(va)
Ttr = mx.array([[(temp[i] - 15) / 10] for i in tr]); Tva = mx.array([[(temp[i] - 15) / 10] for i in va])
ytr = mx.array([y[i] for i in tr]); yva = mx.array([y[i] for i in va])
MU, SD = ytr.mean().item(), mx.sqrt(ytr.var()).item()

class Demand(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(Xtr.shape[1], 1)
        self.tmlp = nn.Sequential(nn.Linear(1, 16), nn.GELU(), nn.Linear(16, 1))
        self.log_sigma = mx.array(0.0)
    def __call__(self, x, tc):
        return (self.lin(x) + self.tmlp(tc)).squeeze(-1)

def nll(model, x, tc, yy):
    z = (yy - MU) / SD
    mu = model(x, tc)
    ls = model.log_sigma
    return (0.5 * ((z - mu) / mx.exp(ls)) ** 2 + ls + 0.5 * math.log(2 * math.pi)).mean()

model = Demand(); mx.eval(model.parameters())
vg = nn.value_and_grad(model, nll)
_, g0 = vg(model, Xtr[:64], Ttr[:64], ytr[:64])
zero = [k for k, v in tree_flatten(g0) if mx.abs(v).max().item() == 0.0]
print(f"RMK GRADCHECK LEAVES={len(tree_flatten(g0))} ZERO={len(zero)} NOISE_SD={SIG:.1f}")

sched = optim.cosine_decay(3e-2, 2000, 1e-3)
opt = optim.Adam(learning_rate=sched)
stations = ["KSFO", "KSEA", "KDEN", "KORD", "KBOS"]
t0 = time.time()
for step in range(1, 2001):
    b = mx.random.randint(0, Xtr.shape[0], (128,))
    loss, g = vg(model, Xtr[b], Ttr[b], ytr[b])
    opt.update(model, g); mx.eval(model.parameters(), opt.state)
    if step in (1, 10, 50) or step % 250 == 0:
        pred = model(Xva, Tva) * SD + MU
        rmse = mx.sqrt(((pred - yva) ** 2).mean()).item()
        sig = math.exp(model.log_sigma.item()) * SD
        st = stations[(step // 250) % len(stations)]
        print(f"METAR {st} {step:05d}Z AUTO NLL{loss.item():+.3f} RMSE{rmse:06.3f} SIG{sig:05.2f} "
              f"LR{opt.learning_rate.item():.1e} T{time.time()-t0:04.1f}S RMK FLOOR{SIG:.1f}=")
print("METAR END NOSIG=")
