# Hard-candy kitchen log: predict residual moisture (%) of a boiled sugar batch.
# Stage A fits the dry-weather batches only; stage B adds the humid-day and
# invert-sugar batches, which are harder, so the error jumps when B starts.
import json
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

rs = np.random.RandomState(31)
N = 3600
final_temp = rs.uniform(140, 160, N)        # deg C at pour
boil_min = rs.uniform(8, 25, N)             # minutes on the heat
glucose = rs.uniform(0.1, 0.5, N)           # glucose syrup fraction
invert = rs.uniform(0, 0.15, N) * (rs.rand(N) < 0.5)
humidity = np.where(rs.rand(N) < 0.55, rs.uniform(30, 50, N), rs.uniform(50, 85, N))  # % RH
batch_kg = rs.uniform(0.5, 4.0, N)
moist = (3.2 - 0.11 * (final_temp - 140) + 0.9 * glucose + 6.0 * invert
         + 0.02 * np.maximum(humidity - 50, 0) ** 1.5 / (1 + 0.05 * (final_temp - 140))
         - 0.03 * boil_min + 0.15 * np.log(batch_kg) + rs.normal(0, 0.08, N))
X = np.stack([final_temp, boil_min, glucose, invert, humidity, batch_kg], 1)
X = ((X - X.mean(0)) / X.std(0)).astype(np.float32)
y = moist.astype(np.float32)[:, None]
easy = (humidity < 50) & (invert == 0)
perm = rs.permutation(N)
tr, va = perm[:2800], perm[2800:]
print(f"batches: {N} ({easy.sum()} dry/no-invert), moisture {y.mean():.2f} +- {y.std():.2f} %")


@mx.custom_function
def softsign(x):
    return x / (1 + mx.abs(x))


@softsign.vjp
def softsign_vjp(primals, cotangent, output):
    x = primals
    d = 1 + mx.abs(x)
    return cotangent / (d * d)


xs = mx.linspace(-4, 4, 101)
g_custom = mx.grad(lambda v: softsign(v).sum())(xs)
g_auto = mx.grad(lambda v: (v / (1 + mx.abs(v))).sum())(xs)
print(f"vjp check: max |custom - autodiff| = {mx.abs(g_custom - g_auto).max().item():.2e}")


class MoistureNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(6, 48)
        self.b = nn.Linear(48, 48)
        self.out = nn.Linear(48, 1)

    def __call__(self, x):
        return self.out(softsign(self.b(softsign(self.a(x)))))


def mse(m, xb, yb):
    return ((m(xb) - yb) ** 2).mean()


mx.random.seed(31)
net = MoistureNet()
opt = optim.SGD(learning_rate=0.02, momentum=0.9, nesterov=True)
lg = nn.value_and_grad(net, mse)

_, g = lg(net, mx.array(X[tr[:256]]), mx.array(y[tr[:256]]))
zero = [k for k, v in tree_flatten(g) if mx.abs(v).max().item() == 0]
print(f"zero-gradient tensors: {zero if zero else 'none'} of {len(tree_flatten(g))}")

Xv, yv = mx.array(X[va]), mx.array(y[va])
base = float(np.sqrt(((y[va] - y[tr].mean()) ** 2).mean()))


def val_rmse():
    return float(mx.sqrt(mse(net, Xv, yv)).item())


for stage, rows, max_ep in (("A", tr[easy[tr]], 40), ("B", tr, 60)):
    best, best_w, bad, patience = float("inf"), None, 0, 6
    for ep in range(1, max_ep + 1):
        order = rows[rs.permutation(len(rows))]
        tot = 0.0
        for i in range(0, len(order), 64):
            j = order[i:i + 64]
            loss, g = lg(net, mx.array(X[j]), mx.array(y[j]))
            opt.update(net, g)
            mx.eval(net.parameters(), opt.state, loss)
            tot += loss.item() * len(j)
        v = val_rmse()
        if v < best - 1e-4:
            best, bad = v, 0
            best_w = tree_map(lambda p: mx.array(p), net.parameters())
        else:
            bad += 1
        if ep % 5 == 0 or ep <= 2 or bad > patience:
            print(json.dumps({"stage": stage, "epoch": ep, "train_mse": round(tot / len(order), 5),
                              "val_rmse_pct": round(v, 4), "best": round(best, 4), "since_best": bad}))
        if bad > patience:
            break
    net.update(best_w)
    mx.eval(net.parameters())
    print(json.dumps({"stage": stage, "restored_best": round(best, 4), "now": round(val_rmse(), 4)}))

print(f"final: val RMSE {val_rmse():.3f} % moisture vs predict-the-mean {base:.3f} %")
