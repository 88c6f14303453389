"""Bayes-by-backprop regression (variational BNN, mean-field Gaussian weights).

Local reparameterisation trick, softplus-parameterised stds, ELBO = expected
NLL (1 Monte-Carlo sample per step) + KL(q||p) / N.  Progress is written to
stderr as a fixed-width table every 10 epochs; the printed ELBO is a noisy
single-sample estimate, and the interesting columns are the held-out RMSE and
the empirical coverage of the 90% predictive interval.
"""
import math
import sys
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

PRIOR_STD = 1.0


class BayesLinear(nn.Module):
    def __init__(self, d_in, d_out):
        super().__init__()
        s = 1.0 / math.sqrt(d_in)
        self.w_mu = mx.random.uniform(-s, s, (d_in, d_out))
        self.w_rho = mx.full((d_in, d_out), -5.0)
        self.b_mu = mx.zeros((d_out,))
        self.b_rho = mx.full((d_out,), -5.0)

    def __call__(self, x, sample=True):
        w_std = nn.softplus(self.w_rho)
        b_std = nn.softplus(self.b_rho)
        mean = x @ self.w_mu + self.b_mu
        if not sample:
            return mean
        var = (x * x) @ (w_std * w_std) + b_std * b_std
        return mean + mx.sqrt(var + 1e-12) * mx.random.normal(mean.shape)

    def kl(self):
        def kl_term(mu, rho):
            std = nn.softplus(rho)
            return (mx.log(PRIOR_STD / std) + (std * std + mu * mu) / (2 * PRIOR_STD ** 2) - 0.5).sum()
        return kl_term(self.w_mu, self.w_rho) + kl_term(self.b_mu, self.b_rho)


class BNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = BayesLinear(1, 64)
        self.l2 = BayesLinear(64, 64)
        self.l3 = BayesLinear(64, 1)
        self.log_noise = mx.array(-1.0)

    def __call__(self, x, sample=True):
        h = mx.tanh(self.l1(x, sample))
        h = mx.tanh(self.l2(h, sample))
        return self.l3(h, sample)

    def kl(self):
        return self.l1.kl() + self.l2.kl() + self.l3.kl()


def make_data(n, seed):
    mx.random.seed(seed)
    x = mx.random.uniform(-3, 3, (n, 1))
    y = mx.sin(1.5 * x) + 0.3 * x + 0.2 * mx.random.normal((n, 1))
    return x, y


def elbo_loss(model, x, y, n_total):
    pred = model(x)
    noise_var = mx.exp(2 * model.log_noise)
    nll = 0.5 * (((y - pred) ** 2) / noise_var + 2 * model.log_noise + math.log(2 * math.pi)).mean()
    return nll + model.kl() / n_total


def predictive(model, x, n_samples=32):
    preds = mx.stack([model(x) for _ in range(n_samples)])
    mu = preds.mean(0)
    sd = mx.sqrt(preds.var(0) + mx.exp(2 * model.log_noise))
    return mu, sd


def main():
    x_tr, y_tr = make_data(600, 1)
    x_te, y_te = make_data(400, 2)
    mx.random.seed(0)
    model = BNN()
    mx.eval(model.parameters())
    opt = optim.Adam(learning_rate=3e-3)
    step = nn.value_and_grad(model, elbo_loss)
    n, bs = x_tr.shape[0], 50
    err = sys.stderr
    print(f"{'epoch':>5} {'elbo/pt':>9} {'kl/N':>8} {'noise_sd':>8} {'test_rmse':>9} {'cov90':>6} {'sec':>6}", file=err)
    t0 = time.time()
    for epoch in range(1, 121):
        perm = mx.random.permutation(n)
        for i in range(0, n, bs):
            idx = perm[i:i + bs]
            loss, grads = step(model, x_tr[idx], y_tr[idx], n)
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
        if epoch % 10 == 0 or epoch == 1:
            mu, sd = predictive(model, x_te)
            rmse = mx.sqrt(((mu - y_te) ** 2).mean()).item()
            cov = (mx.abs(y_te - mu) <= 1.645 * sd).astype(mx.float32).mean().item()
            klN = (model.kl() / n).item()
            print(f"{epoch:>5} {loss.item():>9.4f} {klN:>8.4f} {math.exp(model.log_noise.item()):>8.4f} "
                  f"{rmse:>9.4f} {cov:>6.3f} {time.time() - t0:>6.1f}", file=err, flush=True)
    print("done", file=err)


if __name__ == "__main__":
    main()
