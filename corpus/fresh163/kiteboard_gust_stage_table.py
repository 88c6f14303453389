# Kiteboarding: predict board speed over ground (knots) from 6 session readings
# (mean wind, kite size, rider mass, line length, board length, angle to wind).
# Curriculum: stage A = steady-wind sessions; stage B adds gusty sessions where
# a gust-factor term slows the rider (harder: the loss jumps when B starts).
# Every stage restarts its epoch counter and its lr warmup from exactly 0.
import math
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from functools import partial

mx.random.seed(23)

def sessions(n, gusty):
    x = mx.random.normal((n, 6))
    wind, kite, mass, lines, board, angle = [x[:, i] for i in range(6)]
    kn = 18.0 + 3.2 * wind + 1.1 * kite * (1 + 0.3 * wind) - 0.9 * mass + 0.4 * lines \
        + 0.5 * board + 1.6 * mx.sin(1.2 * angle)
    if gusty:
        gust = mx.abs(mx.random.normal((n,)))
        x = mx.concatenate([x, gust[:, None]], axis=1)
        kn = kn - 2.2 * gust ** 2 + 0.8 * gust * kite
    else:
        x = mx.concatenate([x, mx.zeros((n, 1))], axis=1)
    kn = kn + 0.3 * mx.random.normal(kn.shape)
    return x, kn[:, None]

steady_x, steady_y = sessions(2500, False)
gust_x, gust_y = sessions(2500, True)
hold_steady, hold_gust = sessions(500, False), sessions(500, True)

class SpeedNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(7, 56), nn.GELU(), nn.Linear(56, 56), nn.GELU())
        self.head = nn.Linear(56, 1)
        self.offset = mx.array([18.0])
    def __call__(self, x):
        return self.head(self.body(x)) + self.offset

net = SpeedNet()
mx.eval(net.parameters())

def mse(m, x, y):
    return mx.mean((m(x) - y) ** 2)

def rmse_kn(data):
    return math.sqrt(mse(net, *data).item())

ref_kn = math.sqrt(mx.mean((hold_gust[1] - mx.mean(gust_y)) ** 2).item())
plan = [("A steady", steady_x, steady_y, 10),
        ("B +gusts", mx.concatenate([steady_x, gust_x]), mx.concatenate([steady_y, gust_y]), 14)]
B = 125

print(f"{'stage':<9} {'ep':>3} {'lr':>9} {'train mse':>10} {'steady rmse':>12} {'gust rmse':>10} {'ref':>7}")
print("-" * 66)
for label, X, Y, n_ep in plan:
    n = X.shape[0]
    total = n_ep * (n // B)
    warm = total // 8
    lr = optim.join_schedules([optim.linear_schedule(0.0, 2e-3, warm),
                               optim.cosine_decay(2e-3, total - warm, 5e-5)], [warm])
    opt = optim.AdamW(learning_rate=lr, weight_decay=1e-4)
    st = [net.state, opt.state]

    @partial(mx.compile, inputs=st, outputs=st)
    def train_step(x, y):
        l, g = nn.value_and_grad(net, mse)(net, x, y)
        opt.update(net, g)
        return l

    for ep in range(1, n_ep + 1):
        order = mx.random.permutation(n)
        acc = 0.0
        for i in range(0, n, B):
            j = order[i:i + B]
            l = train_step(X[j], Y[j])
            mx.eval(st, l)
            acc += l.item()
        print(f"{label:<9} {ep:>3} {opt.learning_rate.item():>9.2e} {acc / (n // B):>10.4f} "
              f"{rmse_kn(hold_steady):>9.3f} kn {rmse_kn(hold_gust):>7.3f} kn {ref_kn:>7.3f}")
    print("-" * 66)

g = rmse_kn(hold_gust)
print(f"held-out gusty sessions: {g:.3f} kn RMSE vs {ref_kn:.3f} kn for the mean-speed guess "
      f"({100 * g / ref_kn:.1f}% of it)")
