"""Semi-supervised crevasse radar-echo typing (open / bridged / filled) with
temporal ensembling: each unlabelled echo keeps a running average of the
network's past predictions, and the network is pulled toward it."""

import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

rng = np.random.default_rng(7)
mx.random.seed(7)

N_CLASS, N_FEAT = 3, 6
CENTRES = rng.normal(0, 1.0, size=(N_CLASS, 2, N_FEAT))


def echoes(n):
    y = rng.integers(0, N_CLASS, n)
    sub = rng.integers(0, 2, n)
    x = CENTRES[y, sub] + rng.normal(0, 0.75, size=(n, N_FEAT))
    x[:, 5] += 0.6 * np.tanh(x[:, 0] * x[:, 1])
    return x.astype(np.float32), y.astype(np.int32)


x_lab, y_lab = echoes(60)
x_unl, _ = echoes(3000)
x_test, y_test = echoes(1000)
mu, sd = x_unl.mean(0), x_unl.std(0)
x_lab, x_unl, x_test = [(a - mu) / sd for a in (x_lab, x_unl, x_test)]

# reference numbers from the 60 labelled echoes alone
major = np.bincount(y_lab, minlength=N_CLASS).argmax()
cent = np.stack([x_lab[y_lab == c].mean(0) for c in range(N_CLASS)])
ncc = np.argmin(((x_test[:, None, :] - cent[None]) ** 2).sum(-1), 1)
print(f"labelled {len(y_lab)}  unlabelled {len(x_unl)}  test {len(y_test)}")
print(f"reference: majority-class acc {np.mean(y_test == major):.3f}  "
      f"nearest-centroid acc {np.mean(ncc == y_test):.3f}")


class EchoNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(N_FEAT, 48)
        self.l2 = nn.Linear(48, 48)
        self.out = nn.Linear(48, N_CLASS)
        self.drop = nn.Dropout(0.3)

    def __call__(self, x):
        if self.training:
            x = x + 0.15 * mx.random.normal(x.shape)
        h = self.drop(nn.relu(self.l1(x)))
        h = self.drop(nn.relu(self.l2(h)))
        return self.out(h)


model = EchoNet()
EPOCHS, RAMP, W_MAX, ALPHA = 24, 12, 20.0, 0.6
B_U, B_L = 100, 20
steps_per_epoch = len(x_unl) // B_U
warm = optim.linear_schedule(0.0, 3e-3, steps_per_epoch)
lr = optim.join_schedules([warm, optim.cosine_decay(3e-3, (EPOCHS - 1) * steps_per_epoch, 3e-4)],
                          [steps_per_epoch])
opt = optim.Adam(learning_rate=lr)

Z = np.zeros((len(x_unl), N_CLASS), dtype=np.float32)  # running ensemble


def ramp(epoch):
    if epoch == 0:
        return 0.0
    t = min(epoch / RAMP, 1.0)
    return float(W_MAX * np.exp(-5.0 * (1.0 - t) ** 2))


def loss_fn(m, xl, yl, xu, target, w):
    sup = nn.losses.cross_entropy(m(xl), yl, reduction="mean")
    p = mx.softmax(m(xu), axis=-1)
    uns = mx.mean(mx.sum((p - target) ** 2, axis=-1))
    return sup + w * uns, (sup, uns)


step = nn.value_and_grad(model, loss_fn)
xl_all, yl_all = mx.array(x_lab), mx.array(y_lab)
xu_all, xt = mx.array(x_unl), mx.array(x_test)

print(f"{'ep':>3} {'lr':>8} {'w(t)':>6} {'sup_ce':>7} {'cons':>7} {'total':>7} {'test_acc':>8}")
t_start = time.time()
for epoch in range(EPOCHS):
    w = ramp(epoch)
    target_np = Z / (1.0 - ALPHA ** epoch) if epoch > 0 else np.full_like(Z, 1.0 / N_CLASS)
    epoch_preds = np.zeros_like(Z)
    model.train()
    perm = rng.permutation(len(x_unl))
    s_sum = u_sum = t_sum = 0.0
    for i in range(steps_per_epoch):
        ui = perm[i * B_U:(i + 1) * B_U]
        li = rng.integers(0, len(x_lab), B_L)
        xu = xu_all[mx.array(ui)]
        (tot, (sup, uns)), g = step(model, xl_all[mx.array(li)], yl_all[mx.array(li)],
                                    xu, mx.array(target_np[ui]), w)
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, tot)
        epoch_preds[ui] = np.array(mx.softmax(model(xu), axis=-1))
        s_sum += sup.item(); u_sum += uns.item(); t_sum += tot.item()
    Z = ALPHA * Z + (1.0 - ALPHA) * epoch_preds
    model.eval()
    acc = mx.mean(mx.argmax(model(xt), axis=1) == mx.array(y_test)).item()
    n = steps_per_epoch
    print(f"{epoch:>3} {opt.learning_rate.item():8.5f} {w:6.2f} {s_sum / n:7.4f} "
          f"{u_sum / n:7.4f} {t_sum / n:7.4f} {acc:8.3f}")

print(f"final test acc {acc:.3f} (nearest-centroid reference {np.mean(ncc == y_test):.3f}) "
      f"in {time.time() - t_start:.1f}s")
