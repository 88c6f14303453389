"""DeepSurv-style survival model: Cox partial likelihood on right-censored synthetic data.

Reports the (minibatch) negative partial log-likelihood and the held-out concordance index.
"""
import math

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

D = 8


def simulate(n, key):
    kx, kt, kc = mx.random.split(key, 3)
    x = mx.random.normal((n, D), key=kx)
    beta = mx.array([0.8, -0.6, 0.5, 0.0, 0.0, 0.3, -0.4, 0.0])
    risk = x @ beta + 0.5 * mx.sin(2.0 * x[:, 3]) * x[:, 4]
    u = mx.random.uniform(shape=(n,), key=kt)
    t_event = -mx.log(u) / (0.1 * mx.exp(risk))          # exponential baseline hazard
    t_cens = mx.random.uniform(low=0.0, high=25.0, shape=(n,), key=kc)
    time = mx.minimum(t_event, t_cens)
    event = (t_event <= t_cens).astype(mx.float32)
    return x, time, event


class RiskNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(D, 32)
        self.l2 = nn.Linear(32, 32)
        self.out = nn.Linear(32, 1, bias=False)   # partial likelihood is shift-invariant: no bias

    def __call__(self, x):
        h = nn.selu(self.l1(x))
        h = nn.selu(self.l2(h))
        return self.out(h).squeeze(-1)


def cox_nll(model, x, time, event):
    risk = model(x)
    order = mx.argsort(-time)                 # descending time -> risk sets are prefixes
    r = risk[order]
    e = event[order]
    log_risk_set = mx.logcumsumexp(r, axis=0)
    n_events = mx.maximum(e.sum(), 1.0)
    return -((r - log_risk_set) * e).sum() / n_events


def c_index(risk, time, event):
    # pairs (i, j) with t_i < t_j and event_i: concordant if risk_i > risk_j
    ti, tj = time[:, None], time[None, :]
    comparable = (ti < tj) * event[:, None]
    ri, rj = risk[:, None], risk[None, :]
    conc = (ri > rj).astype(mx.float32) + 0.5 * (ri == rj).astype(mx.float32)
    return ((conc * comparable).sum() / comparable.sum()).item()


def main():
    mx.random.seed(11)
    x, time, event = simulate(3000, mx.random.key(1))
    xv, tv, ev = simulate(800, mx.random.key(2))
    cens = 1.0 - event.mean().item()
    model = RiskNet()
    mx.eval(model.parameters())
    opt = optim.Adam(learning_rate=1e-3)
    lg = nn.value_and_grad(model, cox_nll)

    print(f"train n={x.shape[0]}  censored={cens:.0%}  init val partial-nll "
          f"{cox_nll(model, xv, tv, ev).item():.4f}  init val C-index {c_index(model(xv), tv, ev):.4f}")
    bs, n = 128, x.shape[0]
    epochs = 30
    for ep in range(1, epochs + 1):
        perm = mx.random.permutation(n)
        tot, nb = 0.0, 0
        for s in range(0, n - bs + 1, bs):
            idx = perm[s:s + bs]
            loss, grads = lg(model, x[idx], time[idx], event[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
            nb += 1
        if ep % 3 == 0 or ep == 1:
            ci = c_index(model(xv), tv, ev)
            val_nll = cox_nll(model, xv, tv, ev).item()
            print(f"epoch {ep:02d}/{epochs}  partial-nll(batch avg) {tot / nb:.4f}  "
                  f"val partial-nll {val_nll:.4f}  val C-index {ci:.4f}")
    print("done")


if __name__ == "__main__":
    main()
