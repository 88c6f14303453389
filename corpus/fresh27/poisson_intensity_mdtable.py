# Fit the time-varying rate of an inhomogeneous Poisson process from 40 observed event
# sequences on [0, 10] by maximum likelihood (log-intensity MLP, integral by trapezoid rule).
import math, random
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

random.seed(0); mx.random.seed(0)
T = 10.0
def true_rate(t):
    return 2.0 + 1.5 * math.sin(2 * math.pi * t / 5.0) + 3.0 * math.exp(-((t - 7.0) ** 2) / 0.5)
LMAX = 8.0
seqs = []
for _ in range(40):                      # thinning (Lewis-Shedler)
    t, ev = 0.0, []
    while True:
        t += random.expovariate(LMAX)
        if t > T: break
        if random.random() < true_rate(t) / LMAX: ev.append(t)
    seqs.append(ev)
events = mx.array([e for s in seqs for e in s])[:, None] / T
n_seq = len(seqs)
grid = mx.linspace(0, 1, 201)[:, None]
true_grid = mx.array([true_rate(float(g) * T) for g in grid[:, 0].tolist()])

class Intensity(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(1, 32), nn.Tanh(), nn.Linear(32, 32), nn.Tanh(), nn.Linear(32, 1))
    def __call__(self, t):
        return nn.softplus(self.net(t)).squeeze(-1)   # events per unit time

def nll(model):
    log_term = mx.sum(mx.log(model(events) + 1e-6))
    lam = model(grid)
    integral = T * mx.mean((lam[1:] + lam[:-1]) / 2)
    return (-log_term + n_seq * integral) / n_seq     # per sequence

model = Intensity()
opt = optim.AdamW(learning_rate=5e-3, weight_decay=1e-4)
vg = nn.value_and_grad(model, nll)
ideal = sum(-sum(math.log(true_rate(e)) for e in s) for s in seqs) / n_seq + \
    sum(true_rate(float(g) * T) for g in mx.linspace(0, 1, 2001).tolist()) * T / 2001
print(f"{sum(len(s) for s in seqs)} events in {n_seq} sequences; NLL of the true rate = {ideal:.2f}\n")
print("| step | NLL/seq | L1(rate err) | rate@t=7 (true 5.0) |")
print("|-----:|--------:|-------------:|--------------------:|")
for step in range(1, 1501):
    loss, g = vg(model)
    opt.update(model, g)
    mx.eval(model.parameters(), opt.state)
    if step in (1, 10, 50) or step % 150 == 0:
        lam = model(grid)
        l1 = mx.mean(mx.abs(lam - true_grid)).item()
        at7 = model(mx.array([[0.7]])).item()
        print(f"| {step:4d} | {loss.item():8.2f} | {l1:12.3f} | {at7:19.3f} |")
