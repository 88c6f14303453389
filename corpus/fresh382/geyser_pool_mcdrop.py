"""Geothermal spring survey: water type (acid-sulfate / neutral-chloride /
bicarbonate / mixed) from nine field chemistry readings. MLP with dropout,
AdamW under a warm-up that starts at lr 0. Every 600 steps: a long Monte-Carlo
dropout evaluation with bootstrap intervals, then a checkpoint written to a temp
file and moved into place (last two kept). At step 1200 the session is torn down
and a fresh model/optimizer resumes from the newest checkpoint.
Output is a groff tbl table."""
import os, tempfile, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

T0 = time.time()
rng = np.random.default_rng(4)
FEATS = ["pH", "T_C", "Cl", "SO4", "HCO3", "SiO2", "Na_K", "B", "cond"]
CLASSES = ["acid-SO4", "neutral-Cl", "HCO3", "mixed"]


def springs(n):
    c = rng.integers(0, 4, size=n)
    centers = np.array([
        [2.5, 85, 0.2, 2.2, -1.0, 2.0, 0.5, -0.5, 1.0],
        [7.8, 95, 2.4, 0.1, 0.2, 2.6, 1.8, 1.2, 1.6],
        [6.6, 55, 0.1, -0.2, 2.1, 1.0, 0.9, -0.2, 0.7],
        [5.2, 75, 1.2, 1.2, 1.0, 1.8, 1.2, 0.5, 1.2],
    ])
    spread = np.array([0.9, 14, 0.8, 0.8, 0.8, 0.6, 0.6, 0.7, 0.5])
    x = centers[c] + rng.normal(size=(n, 9)) * spread
    x[:, 3] += 0.25 * (x[:, 1] - 75) / 14 * (c == 3)
    return x.astype(np.float32), c.astype(np.int32)


xtr, ytr = springs(24000)
xva, yva = springs(8000)
mu, sd = xtr.mean(0), xtr.std(0)
xtr, xva = (xtr - mu) / sd, (xva - mu) / sd
Xtr, Ytr, Xva = mx.array(xtr), mx.array(ytr), mx.array(xva)


class SpringNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(9, 128), nn.ReLU(), nn.Dropout(0.25),
                                  nn.Linear(128, 128), nn.ReLU(), nn.Dropout(0.25))
        self.out = nn.Linear(128, 4)

    def __call__(self, x):
        return self.out(self.body(x))


def make(seed):
    mx.random.seed(seed)
    m = SpringNet()
    sched = optim.join_schedules([optim.linear_schedule(0.0, 2e-3, 300),
                                  optim.cosine_decay(2e-3, 1500, 5e-5)], [300])
    o = optim.AdamW(learning_rate=sched, weight_decay=1e-3)
    mx.eval(m.parameters())
    return m, o


def loss_fn(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")


def mc_eval(m, T=24, B=300):
    m.train()
    probs = mx.zeros((Xva.shape[0], 4))
    for _ in range(T):
        probs = probs + mx.softmax(m(Xva), axis=-1)
        mx.eval(probs)
    p = np.array(probs) / T
    m.eval()
    pred = p.argmax(1)
    hit = (pred == yva).astype(np.float64)
    conf = p.max(1)
    bins = np.minimum((conf * 10).astype(int), 9)
    ece = sum(abs(hit[bins == b].mean() - conf[bins == b].mean()) * (bins == b).mean()
              for b in range(10) if (bins == b).any())
    boots = [hit[rng.integers(0, len(hit), len(hit))].mean() for _ in range(B)]
    nll = -np.mean(np.log(p[np.arange(len(yva)), yva] + 1e-9))
    m.train()
    return hit.mean(), np.percentile(boots, 2.5), np.percentile(boots, 97.5), ece, nll


ckdir = tempfile.mkdtemp()


def save(m, o, step):
    tmpw, tmpo = os.path.join(ckdir, ".w.tmp.safetensors"), os.path.join(ckdir, ".o.tmp.safetensors")
    m.save_weights(tmpw)
    mx.save_safetensors(tmpo, dict(tree_flatten(o.state)), metadata={"step": str(step)})
    os.replace(tmpw, os.path.join(ckdir, f"w_{step:05d}.safetensors"))
    os.replace(tmpo, os.path.join(ckdir, f"o_{step:05d}.safetensors"))
    kept = sorted(f for f in os.listdir(ckdir) if f.startswith("w_"))
    for old in kept[:-2]:
        os.remove(os.path.join(ckdir, old))
        os.remove(os.path.join(ckdir, "o_" + old[2:]))
    return sum(os.path.getsize(os.path.join(ckdir, f)) for f in os.listdir(ckdir))


print(".\\\" spring chemistry survey, %d train / %d held-out springs" % (len(ytr), len(yva)))
print(".TS\ncenter box tab(|);\nc c c c c c c c\nn n n n n n n n.")
print("step|lr|train CE|MC acc %|95% low|95% high|ECE|ckpt KiB\n_", flush=True)

model, opt = make(7)
vg = nn.value_and_grad(model, loss_fn)
first = True
window = []
step = 0
probe = (Xtr[:512], Ytr[:512])
while step < 1800:
    idx = mx.array(rng.integers(0, len(ytr), 128))
    loss, g = vg(model, Xtr[idx], Ytr[idx])
    if first:
        zero = [k for k, v in tree_flatten(g) if float(mx.abs(v).max()) == 0.0]
        first = False
    opt.update(model, g)
    mx.eval(loss, model.parameters(), opt.state)
    window.append(loss.item())
    step += 1
    if step % 600 == 0:
        acc, lo, hi, ece, nll = mc_eval(model)
        kib = save(model, opt, step) / 1024
        print(f"{step}|{opt.learning_rate.item():.2e}|{np.mean(window[-200:]):.4f}|{100*acc:.2f}|"
              f"{100*lo:.2f}|{100*hi:.2f}|{ece:.4f}|{kib:.0f}", flush=True)
        if step == 1200:
            model.eval()
            ref = loss_fn(model, *probe).item()
            del model, opt, vg
            newest = sorted(f for f in os.listdir(ckdir) if f.startswith("w_"))[-1]
            model, opt = make(99)
            model.load_weights(os.path.join(ckdir, newest))
            opt.state = tree_unflatten(list(mx.load(os.path.join(ckdir, "o_" + newest[2:])).items()))
            model.eval()
            again = loss_fn(model, *probe).item()
            model.train()
            vg = nn.value_and_grad(model, loss_fn)
            print(f"_\nT{{\nresumed from {newest} at optimizer step {opt.step.item()}, "
                  f"probe CE {ref:.5f} -> {again:.5f}\nT}}\n_", flush=True)
print(".TE")
print(f".\\\" first-step zero-gradient leaves: {zero if zero else 'none'} of {len(tree_flatten(model.parameters()))}")
print(f".\\\" kept checkpoints: {sorted(os.listdir(ckdir))}; {time.time()-T0:.1f} s")
for f in os.listdir(ckdir):
    os.remove(os.path.join(ckdir, f))
os.rmdir(ckdir)
