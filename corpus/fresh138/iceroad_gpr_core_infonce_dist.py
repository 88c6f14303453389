# Winter ice road survey: align ground-penetrating-radar (GPR) trace summaries with
# auger core logs taken at the same station, so a new radar pass can be matched to
# the nearest cored station.  Two-tower contrastive model (symmetric InfoNCE).
#
# Curriculum: "calm" stage uses clean radar summaries, "slush" stage adds heavy
# surface-water clutter (that is what the spring survey looks like).  Validation
# is always on slush-quality radar.  Gradients go through mx.distributed (works
# with a single process too).  Early stopping keeps the best validation weights.
import sys
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map, tree_unflatten

group = mx.distributed.init()
RANK, WORLD = group.rank(), group.size()

mx.random.seed(2024 + RANK)
LAT, GPR_D, CORE_D = 4, 16, 5
A = mx.random.normal((LAT, GPR_D)) * 0.9
B = mx.random.normal((LAT, CORE_D)) * 0.8


def stations(n, clutter, key):
    k1, k2, k3 = mx.random.split(key, 3)
    z = mx.random.normal((n, LAT), key=k1)  # thickness, snow load, wetness, white-ice share
    gpr = mx.tanh(z @ A) + clutter * mx.random.normal((n, GPR_D), key=k2)
    core = z @ B + 0.1 * mx.random.normal((n, CORE_D), key=k3)
    return gpr, core


key = mx.random.key(5)
kc, ks, kv = mx.random.split(key, 3)
calm = stations(3072, 0.10, kc)
slush = stations(3072, 0.45, ks)
val_gpr, val_core = stations(256, 0.45, kv)


class Tower(nn.Module):
    def __init__(self, d_in, width=64, d_out=16):
        super().__init__()
        self.l1 = nn.Linear(d_in, width)
        self.l2 = nn.Linear(width, width)
        self.out = nn.Linear(width, d_out)

    def __call__(self, x):
        h = nn.gelu(self.l1(x))
        h = nn.gelu(self.l2(h))
        e = self.out(h)
        return e / mx.sqrt(mx.sum(e * e, axis=-1, keepdims=True) + 1e-8)


class Matcher(nn.Module):
    def __init__(self):
        super().__init__()
        self.radar = Tower(GPR_D)
        self.core = Tower(CORE_D)

    def __call__(self, g, c):
        return self.radar(g), self.core(c)


TAU = 0.1


def infonce(model, g, c):
    eg, ec = model(g, c)
    logits = (eg @ ec.T) / TAU
    labels = mx.arange(g.shape[0])
    return 0.5 * (nn.losses.cross_entropy(logits, labels, reduction="mean")
                  + nn.losses.cross_entropy(logits.T, labels, reduction="mean"))


def retrieval(model, g, c):
    eg, ec = model(g, c)
    sims = eg @ ec.T
    order = mx.argsort(-sims, axis=1)
    truth = mx.arange(g.shape[0])[:, None]
    top1 = mx.mean((order[:, :1] == truth).any(axis=1))
    top5 = mx.mean((order[:, :5] == truth).any(axis=1))
    return 100 * top1.item(), 100 * top5.item()


model = Matcher()
mx.eval(model.parameters())
EPOCHS, BATCH = 18, 128
steps_per_epoch = calm[0].shape[0] // BATCH
opt = optim.SGD(learning_rate=optim.cosine_decay(0.4, EPOCHS * steps_per_epoch, 0.02),
                momentum=0.9, nesterov=True)
vg = nn.value_and_grad(model, infonce)


def allreduce_mean(grads):
    return tree_map(lambda g: mx.distributed.all_sum(g, group=group) / WORLD, grads)


_, g0 = vg(model, calm[0][:BATCH], calm[1][:BATCH])
dead = [k for k, v in tree_flatten(g0) if mx.abs(v).max().item() == 0.0]
print(f"[rank {RANK}/{WORLD}] params={sum(v.size for _, v in tree_flatten(model.parameters()))} "
      f"dead_grads={dead or 'none'}")
print(f"chance top1 on val = {100 / val_gpr.shape[0]:.2f}%  top5 = {500 / val_gpr.shape[0]:.2f}%")

best_top1, best_ep, best_params, bad = -1.0, 0, None, 0
PATIENCE = 4
t0 = time.time()
for ep in range(1, EPOCHS + 1):
    stage = "calm " if ep <= 6 else "slush"
    gpr, core = calm if ep <= 6 else slush
    perm = mx.random.permutation(gpr.shape[0])
    run = 0.0
    for s in range(steps_per_epoch):
        idx = perm[s * BATCH:(s + 1) * BATCH]
        loss, grads = vg(model, gpr[idx], core[idx])
        grads = allreduce_mean(grads)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        run += loss.item()
    bar = "#" * 10
    vloss = infonce(model, val_gpr, val_core).item()
    t1, t5 = retrieval(model, val_gpr, val_core)
    flag = ""
    if t1 > best_top1:
        best_top1, best_ep, bad = t1, ep, 0
        best_params = [(k, mx.array(v)) for k, v in tree_flatten(model.parameters())]
        flag = " *"
    else:
        bad += 1
    sys.stdout.write(f"{stage} ep {ep:02d}/{EPOCHS} |{bar}| {steps_per_epoch}/{steps_per_epoch} "
                     f"[train_nce {run / steps_per_epoch:.3f}, val_nce {vloss:.3f}, "
                     f"top1 {t1:.1f}%, top5 {t5:.1f}%, lr {opt.learning_rate.item():.3f}]{flag}\n")
    if ep > 6 and bad >= PATIENCE:
        print(f"early stop at ep {ep}: no top1 gain for {PATIENCE} epochs")
        break

model.update(tree_unflatten(best_params))
mx.eval(model.parameters())
t1, t5 = retrieval(model, val_gpr, val_core)
print(f"restored ep {best_ep}: val top1 {t1:.1f}% top5 {t5:.1f}% "
      f"(chance {100 / val_gpr.shape[0]:.2f}%) in {time.time() - t0:.1f}s")
