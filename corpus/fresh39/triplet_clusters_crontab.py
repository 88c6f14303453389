# Metric learning: triplet-margin loss on 12 noisy Gaussian clusters in 32-D,
# embedding MLP -> 8-D L2-normalised; random (anchor, positive, negative) triplets.
# Reports are written as crontab entries (minute field = report index).
import time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

mx.random.seed(11)
C, D, PER = 12, 32, 80
centers = mx.random.normal((C, D)) * 0.6
def sample(n_per):
    lab = mx.repeat(mx.arange(C), n_per)
    x = centers[lab] + mx.random.normal((C * n_per, D)) * 1.6
    return x, lab
Xtr, Ytr = sample(PER); Xte, Yte = sample(40)

class Embed(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(D, 64), nn.SiLU(), nn.Linear(64, 8))
    def __call__(self, x):
        e = self.net(x)
        return e / mx.sqrt((e * e).sum(-1, keepdims=True) + 1e-8)

def triplets(bs=192):
    a = mx.random.randint(0, Xtr.shape[0], (bs,))
    la = Ytr[a]
    p = la * PER + mx.random.randint(0, PER, (bs,))          # same class
    off = mx.random.randint(1, C, (bs,))
    ln = (la + off) % C
    n = ln * PER + mx.random.randint(0, PER, (bs,))          # other class
    return Xtr[a], Xtr[p], Xtr[n]

def loss_fn(m, xa, xp, xn):
    ea, ep, en = m(xa), m(xp), m(xn)
    return nn.losses.triplet_loss(ea, ep, en, margin=0.4, reduction="mean")

def recall_at_1(m):
    e = m(Xte)
    d = 2 - 2 * (e @ e.T) + mx.eye(e.shape[0]) * 10
    nn_idx = mx.argmin(d, axis=1)
    return (Yte[nn_idx] == Yte).mean().item()

model = Embed(); mx.eval(model.parameters())
vg = nn.value_and_grad(model, loss_fn)
_, g = vg(model, *triplets())
print("# grad check: " + ", ".join(f"{k}={mx.abs(v).max().item():.2e}" for k, v in tree_flatten(g)))
print(f"# m h dom mon dow  command   (chance recall@1 = {1/C:.3f})")
opt = optim.SGD(learning_rate=0.1, momentum=0.9)
t0 = time.time(); r = 0
for step in range(1, 1501):
    loss, g = vg(model, *triplets())
    opt.update(model, g); mx.eval(model.parameters(), opt.state)
    if step in (1, 25) or step % 150 == 0:
        print(f"{r % 60} {step // 60 % 24} * * *  /usr/bin/triplet --step={step} --batch-loss={loss.item():.4f} "
              f"--recall1={recall_at_1(model):.3f} --elapsed={time.time()-t0:.1f}s")
        r += 1
print("@reboot /usr/bin/triplet --done")
