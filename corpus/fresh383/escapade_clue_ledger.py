# Escape-room studio: predict how many minutes a group needs to get out of a room.
# Two sessions in one script: train, write a checkpoint, rebuild everything from it, keep going.
import math, os, tempfile
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

mx.random.seed(7)
N_TRAIN, N_VAL = 6000, 1500


def make_groups(n, key):
    k = mx.random.split(key, 9)
    size = mx.random.randint(2, 9, (n,), key=k[0]).astype(mx.float32)
    prior = mx.floor(mx.random.uniform(0, 30, (n,), key=k[1]) ** 1.3 / 8)
    hints = mx.random.randint(0, 6, (n,), key=k[2]).astype(mx.float32)
    diff = mx.random.randint(1, 6, (n,), key=k[3]).astype(mx.float32)
    age = mx.random.uniform(16, 60, (n,), key=k[4])
    lang = (mx.random.uniform(0, 1, (n,), key=k[5]) < 0.8).astype(mx.float32)
    hour = mx.random.uniform(10, 23, (n,), key=k[6])
    famil = mx.random.uniform(0, 1, (n,), key=k[7])
    minutes = (34 + 5.5 * diff - 3.0 * mx.log1p(prior) + 1.6 * hints
               - 0.9 * (size - 4.5) ** 2 / 2 + 0.08 * (age - 35)
               - 4.0 * lang - 6.0 * famil * (diff > 3) + 0.35 * mx.maximum(hour - 20, 0) ** 2)
    minutes = minutes + 2.5 * mx.random.normal((n,), key=k[8])
    X = mx.stack([size, mx.log1p(prior), hints, diff, age, lang, hour, famil], axis=1)
    return X, minutes


Xtr, ytr = make_groups(N_TRAIN, mx.random.key(11))
Xva, yva = make_groups(N_VAL, mx.random.key(12))
mu, sd = Xtr.mean(0), Xtr.std(0) + 1e-6
ym, ys = ytr.mean(), ytr.std()
Xtr, Xva = (Xtr - mu) / sd, (Xva - mu) / sd
ttr = (ytr - ym) / ys
base_mae = mx.abs(yva - ym).mean().item()


class Timer(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(8, 64), nn.SiLU(), nn.Linear(64, 64), nn.SiLU(), nn.Linear(64, 1))

    def __call__(self, x):
        return self.body(x).squeeze(-1)


TOTAL, WARM, PEAK, SPLIT, BS = 1200, 100, 2e-3, 600, 128
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, PEAK, WARM), optim.cosine_decay(PEAK, TOTAL - WARM, 1e-5)], [WARM])


def loss_fn(m, x, t):
    return ((m(x) - t) ** 2).mean()


def build():
    m = Timer()
    o = optim.AdamW(learning_rate=sched, weight_decay=1e-4)
    return m, o


def val_mae(m):
    return mx.abs(m(Xva) * ys + ym - yva).mean().item()


def run(m, o, start, stop):
    vg = nn.value_and_grad(m, loss_fn)
    for step in range(start, stop):
        idx = mx.random.randint(0, N_TRAIN, (BS,))
        lr_now = sched(mx.array(step)).item()
        loss, g = vg(m, Xtr[idx], ttr[idx])
        gn = mx.sqrt(sum((v ** 2).sum() for _, v in tree_flatten(g)))
        o.update(m, g)
        mx.eval(m.parameters(), o.state, loss, gn)
        if step % 50 == 0 or step == TOTAL - 1:
            print(f"{step}\t{lr_now * 1e3:.4f}\t{loss.item() * ys.item() ** 2:.3f}\t"
                  f"{val_mae(m):.3f}\t{base_mae:.3f}\t{gn.item():.4f}")


print("step\tlr×1e3\tloss[min²]\tval_mae[min]\tmean_base_mae[min]\tgrad_l2")
model, opt = build()
run(model, opt, 0, SPLIT)

ckdir = tempfile.mkdtemp()
model.save_weights(os.path.join(ckdir, "w.safetensors"))
mx.save_safetensors(os.path.join(ckdir, "o.safetensors"), dict(tree_flatten(opt.state)))
print(f"# checkpoint\tstep={SPLIT}\tval_mae[min]={val_mae(model):.3f}")

del model, opt
model, opt = build()
model.load_weights(os.path.join(ckdir, "w.safetensors"))
opt.init(model.trainable_parameters())
opt.state = tree_unflatten(list(mx.load(os.path.join(ckdir, "o.safetensors")).items()))
print(f"# resumed\tstep={opt.state['step'].item()}\tval_mae[min]={val_mae(model):.3f}")
run(model, opt, SPLIT, TOTAL)

final = val_mae(model)
print(f"# summary\tval_mae[min]={final:.3f}\tmean_base_mae[min]={base_mae:.3f}\tratio={final / base_mae:.3f}")
