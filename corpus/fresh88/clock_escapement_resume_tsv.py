# Pendulum clock repair bench: 3-way escapement verdict (keeps time / runs fast / runs slow)
# from 7 bench measurements. Trains 6 epochs, writes a checkpoint (weights + optimizer state
# + epoch counter) to a temp dir, then a new process-like section rebuilds everything and
# RESUMES from that checkpoint for 6 more epochs. Output: tab-separated rows.
import os, json, shutil, tempfile, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rs = np.random.default_rng(2024)
n_tr, n_te = 7000, 2000
F = rs.normal(size=(n_tr + n_te, 7)).astype(np.float32)
# beat error, amplitude, pallet wear, oil age, suspension spring, temperature, noise channel
rate = 1.3 * F[:, 0] - 0.8 * F[:, 1] * F[:, 2] + 0.6 * np.sin(2 * F[:, 3]) + 0.4 * F[:, 5]
rate += rs.logistic(0, 0.35, n_tr + n_te)
lab = np.where(rate > 0.9, 1, np.where(rate < -0.9, 2, 0)).astype(np.int32)
Xtr, ytr = mx.array(F[:n_tr]), mx.array(lab[:n_tr])
Xte, yte = mx.array(F[n_tr:]), mx.array(lab[n_tr:])
majority = np.bincount(lab[n_tr:]).max() / n_te


class Verdict(nn.Module):
    def __init__(self, width=160):
        super().__init__()
        self.inp = nn.Linear(7, width)
        self.mid = nn.Linear(width, width)
        self.cls = nn.Linear(width, 3)

    def __call__(self, x):
        return self.cls(nn.gelu(self.mid(nn.gelu(self.inp(x)))))


def ce(m, x, y):
    return mx.mean(nn.losses.cross_entropy(m(x), y))


def test_acc(m):
    return 100.0 * mx.mean(mx.argmax(m(Xte), axis=1) == yte).item()


def make(seed):
    mx.random.seed(seed)
    m = Verdict()
    o = optim.AdamW(learning_rate=optim.cosine_decay(2e-3, 12 * (n_tr // 48), 2e-5), weight_decay=1e-3)
    return m, o


def run(m, o, first_ep, last_ep, t0, audit=False):
    vg = nn.value_and_grad(m, ce)
    for ep in range(first_ep, last_ep + 1):
        order = np.random.default_rng(ep).permutation(n_tr)
        s, c = 0.0, 0
        for b in range(n_tr // 48):
            idx = mx.array(order[b * 48:(b + 1) * 48])
            loss, g = vg(m, Xtr[idx], ytr[idx])
            if audit and ep == first_ep and b == 0:
                fl = tree_flatten(g)
                dead = [k for k, v in fl if mx.all(v == 0).item()]
                print(f"#\tgrad_audit\tleaves={len(fl)}\tzero={dead}")
            o.update(m, g)
            mx.eval(m.parameters(), o.state, loss)
            s += loss.item(); c += 1
        print(f"{ep}\t{s / c:.4f}\t{test_acc(m):.1f}%\t{o.step.item()}\t{time.time() - t0:.1f}")


ckdir = tempfile.mkdtemp(prefix="escapement_")
print(f"#\tdata\ttrain={n_tr}\ttest={n_te}\tmajority={100 * majority:.1f}%")
print("epoch\ttrain_ce\ttest_acc\topt_step\tsecs")
t0 = time.time()
model, opt = make(11)
print(f"0\t-\t{test_acc(model):.1f}%\t0\t0.0")
run(model, opt, 1, 6, t0, audit=True)
model.save_weights(os.path.join(ckdir, "model.safetensors"))
mx.save_safetensors(os.path.join(ckdir, "opt.safetensors"), dict(tree_flatten(opt.state)))
with open(os.path.join(ckdir, "meta.json"), "w") as f:
    json.dump({"epoch": 6}, f)
saved_acc = test_acc(model)
del model, opt
print(f"#\tcheckpoint written to {ckdir}, session ends")

# ---- later session: rebuild from a different seed, then resume ----
model, opt = make(999)
print(f"#\tfresh rebuild test_acc={test_acc(model):.1f}% (before loading)")
model.load_weights(os.path.join(ckdir, "model.safetensors"))
opt.init(model.trainable_parameters())
opt.state = tree_unflatten(list(mx.load(os.path.join(ckdir, "opt.safetensors")).items()))
with open(os.path.join(ckdir, "meta.json")) as f:
    start = json.load(f)["epoch"] + 1
print(f"#\tresumed at epoch {start}: test_acc={test_acc(model):.1f}% (saved {saved_acc:.1f}%), opt_step={opt.step.item()}")
run(model, opt, start, 12, t0)
print(f"#\tdone\tfinal test_acc={test_acc(model):.1f}%\tmajority={100 * majority:.1f}%")
shutil.rmtree(ckdir)
