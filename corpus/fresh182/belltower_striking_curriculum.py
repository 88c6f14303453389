"""Change-ringing striking analysis: predict each bell's striking error (ms) from
rope/handstroke features. Two-stage curriculum: plain 'rounds' first, then the
harder 'method' rows are mixed in (error targets get larger and less regular).
Each stage warms the LR up from exactly 0 again. Logs one JSON object per line.
"""
import json
import math

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

N_FEAT = 7


def ringing_rows(key, n, method_frac):
    k1, k2, k3, k4 = mx.random.split(key, 4)
    x = mx.random.normal((n, N_FEAT), key=k1)
    is_method = (mx.random.uniform(shape=(n, 1), key=k2) < method_frac).astype(mx.float32)
    x = mx.concatenate([x[:, :-1], is_method], axis=1)
    # made-up striking law (ms): rope speed, handstroke gap, neighbour drift, place-change penalty
    base = 18.0 * x[:, 0] - 11.0 * x[:, 1] + 6.0 * x[:, 2] * x[:, 3]
    method = is_method[:, 0] * (25.0 * mx.tanh(x[:, 4]) + 9.0 * x[:, 5] ** 2 - 9.0)
    noise = mx.random.normal((n,), key=k3) * 4.0
    return x, base + method + noise


class StrikeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = [nn.Linear(N_FEAT, 64), nn.Linear(64, 64), nn.Linear(64, 1)]

    def __call__(self, x):
        for l in self.layers[:-1]:
            x = nn.silu(l(x))
        return self.layers[-1](x).squeeze(-1)


def mse(model, x, y):
    return nn.losses.mse_loss(model(x), y)


def main():
    mx.random.seed(7)
    root = mx.random.key(7)
    kv, *stage_keys = mx.random.split(root, 3)
    xv, yv = ringing_rows(kv, 2000, 0.5)       # validation always has both kinds
    baseline_rmse = math.sqrt(mx.mean((yv - yv.mean()) ** 2).item())
    print(json.dumps({"event": "start", "val_rows": 2000, "baseline_rmse_ms": round(baseline_rmse, 2)}))

    model = StrikeNet()
    mx.eval(model.parameters())
    opt = optim.Adamax(learning_rate=0.0)
    step_fn = nn.value_and_grad(model, mse)

    stages = [("rounds", 0.0, 300), ("rounds+method", 0.6, 500)]
    for (name, frac, steps), sk in zip(stages, stage_keys):
        xt, yt = ringing_rows(sk, 6000, frac)
        warm = 60
        for step in range(steps):                      # step counter restarts per stage
            lr = 4e-3 * min(1.0, step / warm) * (0.5 * (1 + math.cos(math.pi * step / steps)))
            opt.learning_rate = lr
            idx = mx.random.randint(0, xt.shape[0], (128,))
            loss, g = step_fn(model, xt[idx], yt[idx])
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
            if step % 50 == 0 or step == steps - 1:
                pv = model(xv)
                err = pv - yv
                rmse = math.sqrt(mx.mean(err ** 2).item())
                within = 100.0 * mx.mean((mx.abs(err) < 10.0).astype(mx.float32)).item()
                print(json.dumps({"stage": name, "step": step, "lr": round(lr, 6),
                                  "train_mse": round(loss.item(), 2), "val_rmse_ms": round(rmse, 2),
                                  "within_10ms_pct": round(within, 1)}))
    gnorm = math.sqrt(sum(mx.sum(v ** 2).item() for _, v in nn.utils.tree_flatten(g)))
    print(json.dumps({"event": "summary", "final_val_rmse_ms": round(rmse, 2),
                      "baseline_rmse_ms": round(baseline_rmse, 2), "last_grad_norm": round(gnorm, 3)}))


if __name__ == "__main__":
    main()
