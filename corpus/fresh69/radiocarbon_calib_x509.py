# Calibrate radiocarbon dates: learn calendar age from measured F14C (+ delta13C, reported
# error) on synthetic samples whose radiocarbon age wiggles around the calendar age.
# Pure-function tanh MLP in a dict, hand-written SGD with Nesterov momentum and an EMA copy
# of the weights that is used for evaluation.
import math
import time
import numpy as np
import mlx.core as mx

LIBBY = 8033.0


def wiggle(age):
    return 250 * np.sin(age / 1700.0) + 120 * np.sin(age / 430.0 + 1.0) + 0.09 * age


def make(n, rng):
    age = rng.uniform(200, 38000, size=n)
    c14age = age - wiggle(age) * 0.8
    F = np.exp(-c14age / LIBBY)
    rel = rng.uniform(0.003, 0.02, size=n)
    d13 = rng.normal(-25, 2, size=n)
    Fm = F * (1 + rel * rng.normal(size=n)) * (1 + 0.0005 * (d13 + 25))
    Fm = np.clip(Fm, 1e-3, None)
    x = np.stack([-np.log(Fm) * LIBBY / 10000.0, rel * 50, (d13 + 25) / 2], 1).astype(np.float32)
    return x, (age / 10000.0).astype(np.float32)


def init(rng):
    def lin(i, o):
        return {"w": mx.array(rng.normal(0, 1 / math.sqrt(i), size=(i, o)).astype(np.float32)),
                "b": mx.zeros((o,))}
    return {"l0": lin(3, 64), "l1": lin(64, 64), "out": lin(64, 1)}


def forward(p, x):
    h = mx.tanh(x @ p["l0"]["w"] + p["l0"]["b"])
    h = h + mx.tanh(h @ p["l1"]["w"] + p["l1"]["b"])
    return (h @ p["out"]["w"] + p["out"]["b"])[:, 0] + x[:, 0]   # residual on the naive age


def loss(p, x, y):
    return mx.mean(mx.square(forward(p, x) - y))


def tmap(f, *ts):
    if isinstance(ts[0], dict):
        return {k: tmap(f, *[t[k] for t in ts]) for k in ts[0]}
    return f(*ts)


def leaves(t):
    if isinstance(t, dict):
        return [(k + "." + n, v) for k in t for n, v in leaves(t[k])]
    return [("", t)]


def main():
    rng = np.random.default_rng(7)
    xtr, ytr = make(10000, rng)
    xva, yva = make(2500, rng)
    Xtr, Ytr, Xva, Yva = map(mx.array, (xtr, ytr, xva, yva))
    p = init(rng)
    vel = tmap(mx.zeros_like, p)
    ema = tmap(lambda a: a, p)
    vg = mx.value_and_grad(loss)

    l0, g0 = vg(p, Xtr[:100], Ytr[:100])
    gl = leaves(g0)
    nz = sum(float(mx.abs(v).max()) > 0 for _, v in gl)
    naive = float(mx.sqrt(mx.mean(mx.square(Xva[:, 0] - Yva)))) * 10000

    t0 = time.time()
    lr, mom, decay, bs = 0.02, 0.9, 0.99, 100
    hist = []
    steps = 0
    for epoch in range(1, 21):
        order = rng.permutation(len(xtr))
        run = 0.0
        for i in range(0, len(xtr), bs):
            idx = mx.array(order[i:i + bs])
            l, g = vg(p, Xtr[idx], Ytr[idx])
            vel = tmap(lambda v, gg: mom * v + gg, vel, g)
            p = tmap(lambda w, v, gg: w - lr * (gg + mom * v), p, vel, g)
            ema = tmap(lambda e, w: decay * e + (1 - decay) * w, ema, p)
            mx.eval(p, vel, ema, l)
            run += l.item() * len(order[i:i + bs])
            steps += 1
        err = (forward(ema, Xva) - Yva) * 10000
        rmse = float(mx.sqrt(mx.mean(err * err)))
        mae = float(mx.mean(mx.abs(err)))
        hist.append((epoch, run / len(xtr) * 1e8, rmse, mae, lr, time.time() - t0))
        if epoch == 14:
            lr *= 0.3

    print("Certificate:")
    print("    Data:")
    print("        Version: 3 (0x2)")
    print("        Serial Number: %d (samples train) / %d (valid)" % (len(xtr), len(xva)))
    print("        Signature Algorithm: nesterov-sgd-with-ema")
    print("        Issuer: CN = radiocarbon-calibration, O = synthetic-lab")
    print("        Validity")
    print("            Not Before: step 0  (loss0 %.5f, grad leaves nonzero %d/%d)" % (l0.item(), nz, len(gl)))
    print("            Not After : step %d (%.1fs)" % (steps, time.time() - t0))
    print("        Subject Public Key Info:")
    print("            Public Key Algorithm: naive-libby-age, RMSE %.0f yr" % naive)
    print("        X509v3 extensions:")
    for e, tr, rmse, mae, l, t in hist:
        print("            X509v3 Epoch %02d: critical" % e)
        print("                train_mse_yr2=%.0f, valid_rmse_yr=%.1f (ema), valid_mae_yr=%.1f, lr=%.4f, t=%.1fs"
              % (tr, rmse, mae, l, t))
    print("    Signature Value:")
    probe = mx.array(np.array([[-math.log(f) * LIBBY / 10000, 0.25, 0.0] for f in (0.9, 0.5, 0.1, 0.02)], np.float32))
    for f, a in zip((0.9, 0.5, 0.1, 0.02), forward(ema, probe).tolist()):
        print("        F14C=%.2f:naive=%6.0f:calibrated=%6.0f" % (f, -math.log(f) * LIBBY, a * 10000))


if __name__ == "__main__":
    main()
