"""Deep hedging of a short European call under geometric Brownian motion.

A small tanh MLP maps (time-to-maturity, log-moneyness) to a hedge ratio at each
of 10 rebalancing dates; the initial premium is one learned scalar.  The
objective is the mean squared terminal hedging error on fresh simulated paths
each step, so the per-step loss is noisy.  The premium should approach the
Black-Scholes price and the hedging error should fall to the discrete-hedging
floor.
"""
import logging
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s hedge: %(message)s")
log = logging.getLogger("hedge")

S0, K, SIGMA, T, N_DATES = 1.0, 1.0, 0.2, 0.5, 10
DT = T / N_DATES
PATHS = 512


def bs_call(s, k, sigma, t):
    d1 = (math.log(s / k) + 0.5 * sigma ** 2 * t) / (sigma * math.sqrt(t))
    d2 = d1 - sigma * math.sqrt(t)
    n = lambda x: 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))
    return s * n(d1) - k * n(d2)


class Hedger(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(2, 32), nn.Tanh(), nn.Linear(32, 32), nn.Tanh(), nn.Linear(32, 1))
        self.premium = mx.array([0.02])

    def deltas(self, tau, logm):
        feats = mx.stack([tau, logm], axis=-1)
        return nn.sigmoid(self.net(feats).squeeze(-1))


def simulate(n):
    z = mx.random.normal((n, N_DATES))
    steps = (-0.5 * SIGMA ** 2) * DT + SIGMA * math.sqrt(DT) * z
    log_s = mx.concatenate([mx.zeros((n, 1)), mx.cumsum(steps, axis=1)], axis=1)
    return S0 * mx.exp(log_s)


def hedge_loss(model, paths):
    n = paths.shape[0]
    pnl = mx.broadcast_to(model.premium, (n,))
    for i in range(N_DATES):
        tau = mx.full((n,), T - i * DT)
        d = model.deltas(tau, mx.log(paths[:, i] / K))
        pnl = pnl + d * (paths[:, i + 1] - paths[:, i])
    payoff = mx.maximum(paths[:, -1] - K, 0.0)
    err = pnl - payoff
    return mx.mean(err ** 2)


def main():
    mx.random.seed(11)
    model = Hedger()
    mx.eval(model.parameters())
    opt = optim.Adam(learning_rate=optim.cosine_decay(1e-2, 1000, 1e-3))
    grad_fn = nn.value_and_grad(model, hedge_loss)
    ref = bs_call(S0, K, SIGMA, T)
    log.info("Black-Scholes reference premium %.5f, %d paths/step", ref, PATHS)
    window = []
    t0 = time.time()
    for step in range(1, 1001):
        loss, grads = grad_fn(model, simulate(PATHS))
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        window.append(loss.item())
        if step % 100 == 0:
            rmse = math.sqrt(sum(window) / len(window))
            log.info("step=%d hedge_rmse(window)=%.5f premium=%.5f lr=%.2e",
                     step, rmse, model.premium.item(), opt.learning_rate.item())
            window = []
    test = simulate(20000)
    final = math.sqrt(hedge_loss(model, test).item())
    log.info("done in %.1fs: out-of-sample hedge_rmse=%.5f premium=%.5f (BS %.5f)",
             time.time() - t0, final, model.premium.item(), ref)


if __name__ == "__main__":
    main()
