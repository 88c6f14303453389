import json, math, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

# Organ workshop: classify pipe speech (clean / chiff-heavy / slow / overblowing)
# from 6 onset readings. 48 pipes voiced by the master, 3000 measured only.
rng = np.random.default_rng(7)
K, D = 4, 6
centers = rng.normal(0, 1.6, size=(K, D)).astype(np.float32)

def make(n):
    y = rng.integers(0, K, size=n)
    x = centers[y] + rng.normal(0, 1.0, size=(n, D)).astype(np.float32)
    x[:, 5] = x[:, 0] * 0.6 + rng.normal(0, 0.5, size=n)  # wind-pressure coupling
    return x.astype(np.float32), y.astype(np.int32)

xl, yl = make(48)
xu, yu_hidden = make(3000)
xt, yt = make(1000)
mu, sd = xu.mean(0), xu.std(0) + 1e-6
xl, xu, xt = [(a - mu) / sd for a in (xl, xu, xt)]
XL, YL, XU, XT, YT = mx.array(xl), mx.array(yl), mx.array(xu), mx.array(xt), mx.array(yt)

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(D, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, K)
        self.drop = nn.Dropout(0.3)
    def __call__(self, x):
        h = self.drop(nn.relu(self.l1(x)))
        h = self.drop(nn.relu(self.l2(h)))
        return self.out(h)

def acc(model, x, y):
    model.eval()
    a = (mx.argmax(model(x), axis=1) == y).mean().item()
    model.train()
    return a

EPOCHS, STEPS = 60, 20
CYCLE, LR_MAX = 15, 3e-3          # cosine with warm restarts every 15 epochs
ALPHA, W_MAX, RAMP = 0.6, 8.0, 25  # ensemble momentum, max unsup weight, ramp epochs

def lr_at(epoch, step):
    t = ((epoch % CYCLE) * STEPS + step) / (CYCLE * STEPS)
    return LR_MAX * 0.5 * (1 + math.cos(math.pi * t))

def ramp(epoch):
    if epoch == 0:
        return 0.0
    p = min(epoch, RAMP) / RAMP
    return math.exp(-5.0 * (1.0 - p) ** 2) if epoch < RAMP else 1.0

def run(semi):
    mx.random.seed(3)
    model = Net()
    opt = optim.Adam(learning_rate=LR_MAX)
    Z = mx.zeros((XU.shape[0], K))  # accumulated ensemble predictions
    targets = mx.zeros((XU.shape[0], K))

    def loss_fn(model, xb, yb, xub, tub, w):
        sup = nn.losses.cross_entropy(model(xb), yb, reduction="mean")
        pu = mx.softmax(model(xub), axis=1)
        cons = mx.mean(mx.sum((pu - tub) ** 2, axis=1))
        return sup + w * cons, (sup, cons)

    vg = nn.value_and_grad(model, loss_fn)
    t0 = time.time()
    for epoch in range(EPOCHS):
        w = W_MAX * ramp(epoch) if semi else 0.0
        perm = mx.array(rng.permutation(XU.shape[0]).astype(np.int32))
        epoch_preds = mx.zeros((XU.shape[0], K))
        bs = XU.shape[0] // STEPS
        sups, cons_l = [], []
        for s in range(STEPS):
            opt.learning_rate = lr_at(epoch, s)
            idx = perm[s * bs:(s + 1) * bs]
            li = mx.array(rng.integers(0, XL.shape[0], size=32).astype(np.int32))
            xub = XU[idx]
            (loss, (sup, cons)), grads = vg(model, XL[li], YL[li], xub, targets[idx], w)
            opt.update(model, grads)
            pu = mx.stop_gradient(mx.softmax(model(xub), axis=1))
            epoch_preds[idx] = pu
            mx.eval(model.parameters(), opt.state, loss, epoch_preds)
            sups.append(sup.item()); cons_l.append(cons.item())
        Z = ALPHA * Z + (1 - ALPHA) * epoch_preds
        targets = Z / (1 - ALPHA ** (epoch + 1))
        mx.eval(Z, targets)
        if semi and (epoch % 5 == 4 or epoch == 0):
            print(json.dumps({"epoch": epoch + 1, "lr_end": round(lr_at(epoch, STEPS - 1), 6),
                              "w_unsup": round(w, 4), "sup_ce": round(float(np.mean(sups)), 4),
                              "consistency": round(float(np.mean(cons_l)), 5),
                              "test_acc": round(acc(model, XT, YT), 4)}), flush=True)
    return model, time.time() - t0

print(json.dumps({"setup": {"labelled": int(XL.shape[0]), "unlabelled": int(XU.shape[0]),
                            "test": int(XT.shape[0]), "chance_acc": 0.25,
                            "restart_every_epochs": CYCLE}}), flush=True)
base, tb = run(semi=False)
print(json.dumps({"baseline_supervised_only": {"test_acc": round(acc(base, XT, YT), 4),
                                               "secs": round(tb, 2)}}), flush=True)
model, ts = run(semi=True)
base_acc, semi_acc = acc(base, XT, YT), acc(model, XT, YT)
model.eval()
pseudo = mx.argmax(model(XU), axis=1)
prec = (pseudo == mx.array(yu_hidden)).mean().item()
print(json.dumps({"final": {"test_acc": round(semi_acc, 4), "baseline_test_acc": round(base_acc, 4),
                            "unlabelled_label_agreement": round(prec, 4), "secs": round(ts, 2)}}), flush=True)
