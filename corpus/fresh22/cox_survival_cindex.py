# Deep Cox proportional-hazards model on simulated right-censored survival data.
# Objective: Breslow negative partial log-likelihood (full batch). Reported metric:
# Harrell's concordance index (C-index, higher is better) on train and held-out patients.
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(11)
N, P = 2400, 8


def simulate(n):
    x = mx.random.normal((n, P))
    risk = 0.8 * x[:, 0] - 0.6 * x[:, 1] + 0.5 * x[:, 2] * x[:, 3] + 0.7 * mx.tanh(2 * x[:, 4])
    u = mx.random.uniform(shape=(n,))
    t_event = -mx.log(u) / mx.exp(risk)                 # exponential baseline hazard
    t_cens = mx.random.uniform(shape=(n,)) * 3.0        # administrative censoring
    time = mx.minimum(t_event, t_cens)
    event = (t_event <= t_cens).astype(mx.float32)
    return x, time, event


x, time, event = simulate(N)
xtr, ttr, etr = x[:1800], time[:1800], event[:1800]
xva, tva, eva = x[1800:], time[1800:], event[1800:]
# sort the training set by descending time once, so the risk set of i is rows [0..i]
order = mx.argsort(-ttr)
xtr, ttr, etr = xtr[order], ttr[order], etr[order]
mx.eval(xtr, ttr, etr, xva, tva, eva)
print(f"train patients {xtr.shape[0]}, events {int(etr.sum().item())}, "
      f"censored {100 * (1 - etr.mean().item()):.0f}%")


class RiskNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.h1 = nn.Linear(P, 24)
        self.h2 = nn.Linear(24, 24)
        self.out = nn.Linear(24, 1, bias=False)  # partial likelihood is shift-invariant: no bias

    def __call__(self, x):
        return self.out(nn.relu(self.h2(nn.relu(self.h1(x))))).squeeze(-1)


def neg_partial_loglik(model, x, e):
    r = model(x)
    log_risk_set = mx.logcumsumexp(r, axis=0)           # rows are in descending time order
    return -mx.sum((r - log_risk_set) * e) / mx.sum(e)


def c_index(r, t, e):
    # comparable pairs: i had an event and t_i < t_j; concordant if r_i > r_j
    comp = (t[:, None] < t[None, :]) & (e[:, None] > 0)
    conc = (r[:, None] > r[None, :]).astype(mx.float32) + 0.5 * (r[:, None] == r[None, :])
    return (mx.sum(conc * comp) / mx.sum(comp)).item()


model = RiskNet()
opt = optim.AdamW(learning_rate=1e-3, weight_decay=0.05)
vg = nn.value_and_grad(model, neg_partial_loglik)

print("epoch   npll     C(train)  C(val)")
for epoch in range(1, 161):
    loss, grads = vg(model, xtr, etr)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if epoch == 1 or epoch % 16 == 0:
        ctr = c_index(model(xtr), ttr, etr)
        cva = c_index(model(xva), tva, eva)
        print(f"{epoch:5d}   {loss.item():.4f}   {ctr:.3f}     {cva:.3f}", flush=True)
