# Thatcher's yard book: will a bundle of water reed rot within ten years on the roof?
# Two-stage curriculum: first only the clear-cut bundles, then the whole yard book,
# including borderline bundles and the foreman's occasional mislabels.
import sys
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

mx.random.seed(3)
rs = np.random.RandomState(11)
n = 4000
feat = np.column_stack([
    rs.uniform(1.2, 2.4, n),     # reed length (m)
    rs.uniform(4, 9, n),         # butt diameter (mm)
    rs.uniform(8, 30, n),        # moisture at cut (%)
    rs.uniform(30, 60, n),       # roof pitch (deg)
    rs.randint(0, 2, n),         # north-facing slope
    rs.uniform(0, 1, n),         # tree shade fraction
    rs.uniform(0.3, 1.0, n),     # compaction score
    rs.uniform(600, 1400, n),    # annual rain (mm)
]).astype(np.float32)
score = (0.09 * (feat[:, 2] - 19) - 0.08 * (feat[:, 3] - 45) + 0.9 * feat[:, 4]
         + 2.2 * (feat[:, 5] - 0.5) - 2.5 * (feat[:, 6] - 0.65) + 0.004 * (feat[:, 7] - 1000)
         - 0.6 * (feat[:, 1] - 6.5) + 0.8 * np.sin(3 * feat[:, 0]))
label = (score > 0).astype(np.float32)
flip = rs.rand(n) < 0.08
label[flip] = 1 - label[flip]
feat = (feat - feat.mean(0)) / feat.std(0)

tr, te = slice(0, 3400), slice(3400, n)
easy = np.where(np.abs(score[tr]) > 1.2)[0]
allrows = np.arange(3400)
Xall, Yall = mx.array(feat[tr]), mx.array(label[tr])
Xte, Yte = mx.array(feat[te]), mx.array(label[te])


class RotNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(8, 32)
        self.l2 = nn.Linear(32, 32)
        self.out = nn.Linear(32, 1)

    def __call__(self, x):
        return self.out(nn.gelu(self.l2(nn.gelu(self.l1(x))))).squeeze(-1)


def bce_logits(z, y):
    # log(1 + e^z) - y z, written with logaddexp so large |z| stays finite
    return (mx.logaddexp(mx.zeros_like(z), z) - y * z).mean()


def loss_fn(m, x, y):
    return bce_logits(m(x), y)


net = RotNet()
mx.eval(net.parameters())
opt = optim.SGD(learning_rate=0.05, momentum=0.9, nesterov=True)
vg = nn.value_and_grad(net, loss_fn)


def bar(stage, i, total, loss, acc, t0):
    w = 24
    k = int(w * i / total)
    rate = i / max(time.time() - t0, 1e-6)
    sys.stdout.write(f"stage {stage}/2 |{'#' * k}{'.' * (w - k)}| {i}/{total} "
                     f"[{rate:5.1f}it/s, loss={loss:.4f}, acc={acc:.1f}%]\n")


for stage, rows, steps in ((1, easy, 300), (2, allrows, 300)):
    t0 = time.time()
    run = 0.0
    for i in range(1, steps + 1):
        b = mx.array(rs.choice(rows, 128))
        loss, g = vg(net, Xall[b], Yall[b])
        opt.update(net, g)
        mx.eval(net.parameters(), opt.state, loss)
        run = 0.9 * run + 0.1 * loss.item() if i > 1 else loss.item()
        if i == 1 or i % 50 == 0:
            acc = ((net(Xall) > 0) == (Yall > 0.5)).mean().item() * 100
            bar(stage, i, steps, run, acc, t0)
    zte = net(Xte)
    te_loss = bce_logits(zte, Yte).item()
    te_acc = ((zte > 0) == (Yte > 0.5)).mean().item() * 100
    print(f"  -> stage {stage} done: held-out bce {te_loss:.4f}, held-out acc {te_acc:.1f}% "
          f"(majority-class {max(Yte.mean().item(), 1 - Yte.mean().item()) * 100:.1f}%)")
    if stage == 1:
        opt.learning_rate = 0.02
