"""MC-dropout regression with a gap in the training inputs.

A dropout MLP is fitted to y = sin(3x) + 0.3x + noise with no training data in
(-0.5, 0.5). At each report we draw 50 stochastic forward passes (dropout kept
on) and score the predictive mean (RMSE) and the nominal 90% interval
(epistemic MC variance + the aleatoric variance estimated from the deterministic
training residuals) by its empirical coverage on fresh in-range test points.
"""
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

NOISE = 0.1
Z90 = 1.6449


def f_true(x):
    return np.sin(3 * x) + 0.3 * x


def sample(rng, n, gap=True):
    x = rng.uniform(0.5, 3.0, size=n) * rng.choice([-1.0, 1.0], size=n)
    if not gap:
        x = rng.uniform(-3.0, 3.0, size=n)
    y = f_true(x) + NOISE * rng.standard_normal(n)
    return mx.array(x[:, None].astype(np.float32)), mx.array(y[:, None].astype(np.float32))


class DropMLP(nn.Module):
    def __init__(self, width=128, p=0.1):
        super().__init__()
        self.l1 = nn.Linear(1, width)
        self.l2 = nn.Linear(width, width)
        self.l3 = nn.Linear(width, 1)
        self.drop = nn.Dropout(p)

    def __call__(self, x):
        h = self.drop(nn.silu(self.l1(x)))
        h = self.drop(nn.silu(self.l2(h)))
        return self.l3(h)


def mc_predict(model, x, passes=50):
    model.train(True)  # keep dropout active on purpose
    preds = mx.stack([model(x) for _ in range(passes)])
    return preds.mean(axis=0), preds.var(axis=0)


def main():
    mx.random.seed(5)
    rng = np.random.default_rng(5)
    x_tr, y_tr = sample(rng, 600)
    x_te, y_te = sample(np.random.default_rng(77), 400)
    x_gap = mx.linspace(-0.4, 0.4, 9)[:, None]

    model = DropMLP()
    mx.eval(model.parameters())
    opt = optim.AdamW(learning_rate=2e-3, weight_decay=1e-4)

    def loss_fn(m, x, y):
        return nn.losses.mse_loss(m(x), y, reduction="mean")

    vg = nn.value_and_grad(model, loss_fn)
    print("step | train_mse(avg) | noise_sd_est | mc_rmse | cov90 | sd_in | sd_gap")
    print("-----+----------------+--------------+---------+-------+-------+-------")
    window = []
    for step in range(1, 1501):
        model.train(True)
        idx = mx.array(rng.integers(0, x_tr.shape[0], size=64))
        loss, grads = vg(model, x_tr[idx], y_tr[idx])
        if step == 1:
            leaves = tree_flatten(grads)
            bad = [k for k, g in leaves if not mx.any(g != 0).item()]
            print(f"(step-1 check: {len(leaves) - len(bad)}/{len(leaves)} gradient leaves non-zero)")
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        window.append(loss.item())
        if step % 300 == 0:
            model.eval()
            resid = model(x_tr) - y_tr
            sigma2 = (resid ** 2).mean()
            mu, var = mc_predict(model, x_te)
            rmse = mx.sqrt(((mu - y_te) ** 2).mean())
            sd = mx.sqrt(var + sigma2)
            cov = (mx.abs(y_te - mu) <= Z90 * sd).mean()
            _, var_gap = mc_predict(model, x_gap)
            print(f"{step:4d} | {np.mean(window):14.4f} | {mx.sqrt(sigma2).item():12.4f} | "
                  f"{rmse.item():7.4f} | {cov.item():5.3f} | {mx.sqrt(var).mean().item():5.3f} | "
                  f"{mx.sqrt(var_gap).mean().item():5.3f}")
            window = []


if __name__ == "__main__":
    main()
