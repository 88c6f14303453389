"""Multi-task learning with homoscedastic uncertainty weighting (Kendall et al. 2018).

One shared trunk, two heads: a regression target (house-price-like, noisy) and
a 3-way classification target.  Each task has a learned log-variance s_t and the
objective is  0.5*exp(-s_r)*MSE + 0.5*s_r  +  exp(-s_c)*CE + 0.5*s_c .
Because the s_t terms are in the objective, the total can go negative and it is
not comparable across steps the way a plain loss is; the held-out RMSE and
accuracy are the real progress measures.  Progress is written as JSON lines.
"""
import json
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(11)
D_IN = 12


def make_data(n, W1, W2):
    x = mx.random.normal((n, D_IN))
    h = mx.tanh(x @ W1)
    y_reg = (h @ W2[:, :1]).squeeze(-1) + 0.3 * mx.random.normal((n,))
    logits = h @ W2[:, 1:] * 2.0
    y_cls = mx.random.categorical(logits)
    return x, y_reg, y_cls


class MultiTaskNet(nn.Module):
    def __init__(self, hidden=64):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(D_IN, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU())
        self.reg_head = nn.Linear(hidden, 1)
        self.cls_head = nn.Linear(hidden, 3)
        self.log_var = mx.zeros((2,))  # [regression, classification]

    def __call__(self, x):
        h = self.trunk(x)
        return self.reg_head(h).squeeze(-1), self.cls_head(h)


def objective(model, x, yr, yc):
    pr, pc = model(x)
    mse = mx.mean((pr - yr) ** 2)
    ce = nn.losses.cross_entropy(pc, yc, reduction="mean")
    s_r, s_c = model.log_var[0], model.log_var[1]
    total = 0.5 * mx.exp(-s_r) * mse + 0.5 * s_r + mx.exp(-s_c) * ce + 0.5 * s_c
    return total, (mse, ce)


def main():
    W1 = mx.random.normal((D_IN, 16)) / D_IN ** 0.5
    W2 = mx.random.normal((16, 4))
    xtr, yrtr, yctr = make_data(6000, W1, W2)
    xva, yrva, ycva = make_data(1500, W1, W2)
    model = MultiTaskNet()
    opt = optim.SGD(learning_rate=optim.cosine_decay(0.03, 2400, 0.002), momentum=0.9, nesterov=True)
    vg = nn.value_and_grad(model, objective)
    bs, steps = 64, 2400
    t0 = time.time()
    for step in range(1, steps + 1):
        idx = mx.random.randint(0, xtr.shape[0], (bs,))
        (total, (mse, ce)), grads = vg(model, xtr[idx], yrtr[idx], yctr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, total)
        if step % 200 == 0 or step == 1:
            pr, pc = model(xva)
            rmse = mx.sqrt(mx.mean((pr - yrva) ** 2)).item()
            acc = mx.mean(mx.argmax(pc, axis=-1) == ycva).item()
            sr, sc = model.log_var.tolist()
            print(json.dumps({
                "step": step, "objective": round(total.item(), 4),
                "batch_mse": round(mse.item(), 4), "batch_ce": round(ce.item(), 4),
                "sigma_reg": round(float(mx.exp(0.5 * mx.array(sr)).item()), 4),
                "sigma_cls": round(float(mx.exp(0.5 * mx.array(sc)).item()), 4),
                "val_rmse": round(rmse, 4), "val_acc": round(acc, 4),
                "elapsed_s": round(time.time() - t0, 1),
            }), flush=True)


if __name__ == "__main__":
    main()
