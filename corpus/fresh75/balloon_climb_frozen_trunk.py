"""Hot-air ballooning: predict the vertical speed (cm/s) of a balloon from flight-log
readings.  A trunk is first trained on plenty of logs from the club's standard
envelopes, then it is frozen on purpose and only a new head is fitted to a small set
of logs from the new, larger envelope."""
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

rng = np.random.default_rng(11)


def make_logs(n, big):
    altitude = rng.uniform(0.2, 2.4, n)          # km
    burner = rng.uniform(-4, 4, n)               # burner seconds per minute, centred
    vent = rng.uniform(0.18, 0.30, n)            # parachute-vent opening (fraction)
    payload = rng.uniform(0.20, 0.33, n)         # tonnes
    gas = rng.uniform(55, 95, n)                 # envelope temperature C
    ambient = rng.uniform(8, 24, n)              # outside air C
    x = np.stack([np.log(altitude), burner, vent, payload, gas / 100, ambient / 10], 1)
    vz = (12 * (burner - 0.5) - 180 * (payload - 0.26) + 0.9 * (gas - 75)
          + 3.0 * (ambient - 16) + 25 * np.sin(2 * np.log(altitude)))
    if big:    # larger envelope: slower response, different ambient effect, offset
        vz = 0.6 * vz - 1.6 * (ambient - 16) + 14
    vz = vz + rng.normal(0, 2.0, n)
    return x.astype(np.float32), (vz / 40).astype(np.float32)


class ClimbNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(6, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh())
        self.head = nn.Linear(64, 1)

    def __call__(self, x):
        return self.head(self.trunk(x)).squeeze(-1)


def loss_fn(model, x, y):
    return nn.losses.mse_loss(model(x), y)


def rmse_cms(model, x, y):
    return 40 * float(mx.sqrt(loss_fn(model, mx.array(x), mx.array(y))))


def run_phase(model, opt, x, y, xv, yv, epochs, bs, tag):
    vg = nn.value_and_grad(model, loss_fn)
    n = len(x)
    first = True
    t0 = time.time()
    for ep in range(1, epochs + 1):
        perm = rng.permutation(n)
        tot, cnt = 0.0, 0
        for s in range(0, n - bs + 1, bs):
            idx = perm[s:s + bs]
            loss, g = vg(model, mx.array(x[idx]), mx.array(y[idx]))
            if first:
                leaves = tree_flatten(g)
                zero = [k for k, v in leaves if float(mx.abs(v).max()) == 0.0]
                print("%s: first step gradient leaves %d, zero %d %s" % (tag, len(leaves), len(zero), zero))
                first = False
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item(); cnt += 1
        print("%-9s epoch %2d  train_mse %.4f  valid_rmse %6.2f cm/s  (%.1fs)"
              % (tag, ep, tot / cnt, rmse_cms(model, xv, yv), time.time() - t0))


mx.random.seed(3)
xf, yf = make_logs(16000, big=False)
xfv, yfv = make_logs(2000, big=False)
xr, yr = make_logs(320, big=True)
xrv, yrv = make_logs(2000, big=True)
print("standard envelopes %d train / %d valid logs, new envelope %d train / %d valid logs" % (len(xf), len(xfv), len(xr), len(xrv)))

model = ClimbNet()
mx.eval(model.parameters())
print("untrained standard-envelope rmse %.2f cm/s" % rmse_cms(model, xfv, yfv))
run_phase(model, optim.AdaDelta(learning_rate=1.0, rho=0.95), xf, yf, xfv, yfv, 6, 64, "standard")

# new head for the new envelope; trunk kept as learned on the standard envelopes
model.head = nn.Linear(64, 1)
model.trunk.freeze()
trunk_before = tree_map(lambda a: np.array(a), model.trunk.parameters())
print("new envelope before head fit: rmse %.2f cm/s; trainable: %s"
      % (rmse_cms(model, xrv, yrv), [k for k, _ in tree_flatten(model.trainable_parameters())]))
run_phase(model, optim.SGD(learning_rate=0.05, momentum=0.9), xr, yr, xrv, yrv, 40, 16, "new-env")

drift = max(float(np.abs(np.array(a) - b).max()) for (_, a), (_, b)
            in zip(tree_flatten(model.trunk.parameters()), tree_flatten(trunk_before)))
print("frozen trunk max change %.3g (expected 0)" % drift)
print("new envelope valid rmse %.2f cm/s vs predict-mean %.2f cm/s" % (rmse_cms(model, xrv, yrv), 40 * float(np.std(yrv))))
