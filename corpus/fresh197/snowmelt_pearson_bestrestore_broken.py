# Forecast spring discharge anomaly from snowpack features.
# Model selection on validation Pearson r (higher is better), with a baseline eval
# before training, early stopping (patience) and restore of the best weights.
import math
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map

mx.random.seed(11)
N_TR, N_VA, D = 512, 160, 8


def make(n):
    swe = mx.random.uniform(0.0, 1.0, (n, D))          # snow water equivalent per band
    w = mx.linspace(0.3, 1.4, D).reshape(D, 1)
    y = mx.tanh(swe @ w - 3.4) + 0.1 * mx.sin(6.0 * swe[:, :1]) + 0.05 * mx.random.normal((n, 1))
    return swe, y


Xtr, Ytr = make(N_TR)
Xva, Yva = make(N_VA)


class Forecaster(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(D, 48), nn.SiLU(), nn.Linear(48, 48), nn.SiLU())
        self.head = nn.Linear(48, 1)
        # zero-init head: the network starts as a constant forecaster
        self.head.weight = mx.zeros_like(self.head.weight)
        self.head.bias = mx.zeros_like(self.head.bias)

    def __call__(self, x):
        return self.head(self.body(x))


def pearson(p, y):
    pc, yc = p - p.mean(), y - y.mean()
    return ((pc * yc).sum() / mx.sqrt((pc * pc).sum() * (yc * yc).sum())).item()


model = Forecaster()
mx.eval(model.parameters())
opt = optim.SGD(learning_rate=0.05, momentum=0.9)


def loss_fn(m, x, y):
    return nn.losses.mse_loss(m(x), y)


grad_fn = nn.value_and_grad(model, loss_fn)

EVAL_EVERY, PATIENCE, MAX_STEPS, BS = 25, 4, 1500, 64
greater_is_better = True
best_metric, best_step, best_weights, bad_evals = None, -1, None, 0


def evaluate(step):
    global best_metric, best_step, best_weights, bad_evals
    pred = model(Xva)
    r = pearson(pred, Yva)
    mse = nn.losses.mse_loss(pred, Yva).item()
    cur = r
    improved = (
        best_metric is None
        or (cur > best_metric if greater_is_better else cur < best_metric)
    )
    if improved:
        best_metric, best_step, bad_evals = cur, step, 0
        best_weights = tree_map(lambda a: mx.array(a), model.parameters())
        mx.eval(best_weights)
    else:
        bad_evals += 1
    print(f"[eval] step={step} val_r={r:.4f} val_mse={mse:.5f} best_r={'-' if best_metric is None else format(best_metric, '.4f')}@{best_step} patience={bad_evals}/{PATIENCE}")
    return bad_evals >= PATIENCE


evaluate(0)
step = 0
while step < MAX_STEPS:
    perm = mx.random.permutation(N_TR)
    for i in range(0, N_TR, BS):
        idx = perm[i:i + BS]
        loss, grads = grad_fn(model, Xtr[idx], Ytr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        step += 1
        if step % EVAL_EVERY == 0:
            print(f"step={step} train_mse={loss.item():.5f}")
            if evaluate(step):
                break
    else:
        continue
    print(f"early stop at step={step}")
    break

model.update(best_weights)
pred = model(Xva)
print(f"restored step={best_step}  final val_r={pearson(pred, Yva):.4f}  final val_mse={nn.losses.mse_loss(pred, Yva).item():.5f}")
