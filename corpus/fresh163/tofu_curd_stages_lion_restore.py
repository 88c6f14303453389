# tofu workshop: which coagulant batch gives silken / medium / firm / crumbly curd
# from 7 press-room readings. Curriculum: clean readings first, then the noisy
# thermometer shift joins, then the full mix with mislabelled slips.
import sys
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

rs = np.random.default_rng(2611)
KINDS = ["silken", "medium", "firm", "crumbly"]


def batch_of(n, noise, slip):
    soy_brix = rs.uniform(8, 14, n)
    nigari_g = rs.uniform(2, 9, n)
    temp = rs.uniform(65, 90, n)
    press_min = rs.uniform(0, 40, n)
    stir_s = rs.uniform(5, 60, n)
    ph = rs.uniform(5.6, 6.8, n)
    weight_kg = rs.uniform(0, 12, n)
    firmness = (0.35 * soy_brix + 0.45 * nigari_g + 0.04 * (temp - 75) + 0.05 * press_min
                + 0.12 * weight_kg - 1.2 * (ph - 6.2) + 0.01 * stir_s)
    crumble = 0.03 * stir_s + 0.25 * np.maximum(nigari_g - 6.5, 0) * (temp > 82)
    lab = np.digitize(firmness, [6.0, 7.4, 8.8])
    lab = np.where(crumble > 1.3, 3, np.minimum(lab, 2))
    X = np.stack([soy_brix, nigari_g, temp, press_min, stir_s, ph, weight_kg], 1)
    X = X + rs.normal(0, noise, X.shape) * X.std(0)
    flip = rs.random(n) < slip
    lab = np.where(flip, rs.integers(0, 4, n), lab)
    return X.astype(np.float32), lab.astype(np.int32)


stages = [("clean", 0.00, 0.00, 1200), ("thermo-shift", 0.15, 0.00, 1200), ("full", 0.25, 0.08, 1600)]
data = [batch_of(n, nz, sl) for _, nz, sl, n in stages]
Xval, yval = batch_of(800, 0.25, 0.0)
allX = np.concatenate([d[0] for d in data])
m, s = allX.mean(0), allX.std(0)
norm = lambda a: mx.array((a - m) / s)
Xv, Yv = norm(Xval), mx.array(yval)

mx.random.seed(11)
net = nn.Sequential(nn.Linear(7, 64), nn.SiLU(), nn.Linear(64, 64), nn.SiLU(), nn.Linear(64, 4))


def xent(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


vg = nn.value_and_grad(net, xent)


def agreement():
    return mx.mean(mx.argmax(net(Xv), -1) == Yv).item()


def bar(i, n, w=20):
    k = int(w * i / n)
    return "|" + "#" * k + " " * (w - k) + "|"


best, best_params, patience_left = -1.0, None, 0
print(f"untrained agreement {agreement():.3f}  (chance {1/4:.3f}, majority {np.bincount(yval).max()/len(yval):.3f})")
for si, (sname, _, _, _) in enumerate(stages):
    # curriculum: this stage's data plus everything before it
    X = norm(np.concatenate([d[0] for d in data[: si + 1]]))
    Y = mx.array(np.concatenate([d[1] for d in data[: si + 1]]))
    n = X.shape[0]
    steps = 250
    sched = optim.join_schedules([optim.linear_schedule(0.0, 1e-3, 30), optim.cosine_decay(1e-3, steps - 30, 5e-5)], [30])
    opt = optim.Lion(learning_rate=sched, weight_decay=0.01)  # fresh optimizer, lr from 0 each stage
    patience_left = 4
    run = 0.0
    for step in range(1, steps + 1):
        idx = mx.array(rs.integers(0, n, 64))
        loss, g = vg(net, X[idx], Y[idx])
        opt.update(net, g)
        mx.eval(net.parameters(), opt.state, loss)
        run = loss.item() if step == 1 else 0.9 * run + 0.1 * loss.item()
        if step == 1 and si == 0:
            zero = [k for k, v in tree_flatten(g) if mx.all(v == 0).item()]
            print(f"  grads all nonzero: {not zero}")
        if step % 25 == 0:
            sys.stdout.write(f"stage {si+1}/{len(stages)} {sname:<12} {bar(step, steps)} {step}/{steps} "
                             f"loss={run:.4f} lr={opt.learning_rate.item():.2e}\n")
        if step % 50 == 0:
            a = agreement()
            tag = ""
            if a > best:
                best, tag = a, " *"
                best_params = tree_map(lambda p: mx.array(p), net.parameters())
                patience_left = 4
            else:
                patience_left -= 1
            print(f"    held-out agreement {a:.3f} (best {best:.3f}){tag}")
            if patience_left == 0:
                print("    no gain, leaving stage early")
                break

net.update(best_params)
mx.eval(net.parameters())
print(f"restored best snapshot: agreement {agreement():.3f}")
