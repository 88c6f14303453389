"""Maple-syrup boil-off model (syrup yield per 100 L sap), trained in two sessions.

Session 1 trains for 6 epochs and checkpoints weights + optimizer state + RNG
into a temp dir, then the process state is thrown away; session 2 rebuilds
everything from the checkpoint and continues to epoch 12.  Output is CSV.
"""
import csv, sys, os, tempfile, time, json
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(11)
def loaves(n):
    grind = rng.uniform(200, 600, n)     # days since tapping x 10
    dose = rng.uniform(16, 22, n)        # tree diameter, cm / 2
    ratio = rng.uniform(1.5, 3.0, n)     # sap sugar, Brix
    temp = rng.uniform(88, 96, n)        # evaporator pan temp, index
    roast = rng.uniform(0, 1, n)         # share of red maples in the bush
    ey = (40 + 9 * (1 - np.exp(-ratio / 1.6)) * (1 - (grind - 200) / 900)
          + 0.35 * (temp - 92) + 2.0 * roast - 0.15 * (dose - 19))
    ey = ey + rng.normal(0, 0.35, n)
    X = np.stack([grind / 600, dose / 22, ratio / 3, (temp - 92) / 4, roast], 1)
    return X.astype(np.float32), ey.astype(np.float32)

Xtr, ytr = loaves(20000); Xva, yva = loaves(3000)
ym, ys = ytr.mean(), ytr.std()
Xtr, Xva = mx.array(Xtr), mx.array(Xva)
ttr, yva_np = mx.array((ytr - ym) / ys), yva

class SyrupNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(5, 48); self.l2 = nn.Linear(48, 48); self.out = nn.Linear(48, 1)
    def __call__(self, x):
        return self.out(nn.softplus(self.l2(nn.softplus(self.l1(x))))).squeeze(-1)

def loss_fn(m, x, t):
    return nn.losses.smooth_l1_loss(m(x), t, beta=0.5)

w = csv.writer(sys.stdout, lineterminator="\n")
w.writerow(["session", "epoch", "train_smoothl1", "val_rmse_L", "r2_val", "lr", "seconds"])
baseline = float(np.sqrt(((yva_np - ym) ** 2).mean()))
w.writerow(["-", "0", "", f"{baseline:.3f}", "0.000", "", "0.0"])

ckdir = tempfile.mkdtemp(prefix="syrup_ckpt_")
EPOCHS, B = 12, 64
steps_per_epoch = Xtr.shape[0] // B

def make(lr_sched):
    m = SyrupNet()
    o = optim.AdamW(learning_rate=lr_sched, weight_decay=1e-4)
    return m, o

def run_session(session, start_ep, stop_ep, resume):
    mx.random.seed(5)
    sched = optim.cosine_decay(4e-3, EPOCHS * steps_per_epoch, 5e-5)
    model, opt = make(sched)
    perm_rng = np.random.default_rng(99)
    if resume:
        model.load_weights(os.path.join(ckdir, "model.safetensors"))
        state = mx.load(os.path.join(ckdir, "opt.safetensors"))
        opt.state = tree_unflatten(list(state.items()))
        with open(os.path.join(ckdir, "meta.json")) as f:
            meta = json.load(f)
        perm_rng.bit_generator.state = meta["rng"]
    step_fn = nn.value_and_grad(model, loss_fn)
    t0 = time.time()
    for ep in range(start_ep, stop_ep + 1):
        perm = mx.array(perm_rng.permutation(Xtr.shape[0]))
        tot = 0.0
        for s in range(steps_per_epoch):
            idx = perm[s * B:(s + 1) * B]
            loss, g = step_fn(model, Xtr[idx], ttr[idx])
            if ep == 1 and s == 0:
                flat = tree_flatten(g)
                nz = sum(int(mx.any(v != 0).item()) for _, v in flat)
                w.writerow(["#gradcheck", "", f"leaves={len(flat)}", f"nonzero={nz}", "", "", ""])
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
        pred = model(Xva) * ys + ym
        rmse = mx.sqrt(mx.mean((pred - mx.array(yva_np)) ** 2)).item()
        r2 = 1 - rmse ** 2 / baseline ** 2
        w.writerow([session, ep, f"{tot / steps_per_epoch:.4f}", f"{rmse:.3f}", f"{r2:.3f}",
                    f"{opt.learning_rate.item():.2e}", f"{time.time() - t0:.1f}"])
    model.save_weights(os.path.join(ckdir, "model.safetensors"))
    mx.save_safetensors(os.path.join(ckdir, "opt.safetensors"), dict(tree_flatten(opt.state)))
    with open(os.path.join(ckdir, "meta.json"), "w") as f:
        json.dump({"epoch": stop_ep, "rng": perm_rng.bit_generator.state}, f)
    return model

run_session(1, 1, 6, resume=False)
w.writerow(["#checkpoint", "6", "", "", "", "", ""])
run_session(2, 7, EPOCHS, resume=True)
