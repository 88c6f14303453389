# Fish-counter sonar at two weirs: species classifier trained on the labelled
# River Aln counter, with Deep CORAL feature alignment to the unlabelled River
# Tay counter. Training runs in two sessions with a checkpoint in between.
import json
import os
import shutil
import tempfile
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(2024)
ECHO, SPECIES, LATENT = 16, 5, 6
proto = rng.normal(0, 1.0, (SPECIES, LATENT))
basis = rng.normal(0, 1.0, (LATENT, ECHO)) / 2.0
q, _ = np.linalg.qr(rng.normal(size=(ECHO, ECHO)))
tay_map = 0.55 * np.eye(ECHO) + 0.45 * q          # other transducer, other water
tay_shift = rng.normal(0, 0.4, ECHO)


def counter(n, tay):
    y = rng.integers(0, SPECIES, n)
    z = proto[y] + 0.7 * rng.normal(size=(n, LATENT))
    x = np.sin(z @ basis) + 0.1 * rng.normal(size=(n, ECHO))
    if tay:
        x = x @ tay_map + tay_shift
    return x.astype(np.float32), y.astype(np.int32)


aln_x, aln_y = counter(9000, False)
tay_x, tay_y = counter(9000, True)      # tay labels only for scoring
tay_tx, tay_ty = counter(2000, True)


class Counter(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Linear(ECHO, 96), nn.GELU(),
                                      nn.Linear(96, 32), nn.GELU())
        self.head = nn.Linear(32, SPECIES)

    def __call__(self, x):
        f = self.features(x)
        return self.head(f), f


def cov(f):
    c = f - mx.mean(f, axis=0, keepdims=True)
    return (c.T @ c) / (f.shape[0] - 1)


def objective(m, xs, ys, xt, lam):
    logits, fs = m(xs)
    _, ft = m(xt)
    ce = nn.losses.cross_entropy(logits, ys, reduction="mean")
    d = fs.shape[1]
    coral = mx.sum(mx.square(cov(fs) - cov(ft))) / (4 * d * d)
    return ce + lam * coral, (ce, coral)


BATCH, EPOCHS, SPLIT_AT = 128, 14, 7
SPE = len(aln_x) // BATCH
TOTAL = EPOCHS * SPE


def lam_at(step):
    # alignment weight grows from exactly 0 over the first 40% of steps
    return min(1.0, step / (0.4 * TOTAL)) * 25.0


def build():
    m = Counter()
    o = optim.Adam(learning_rate=optim.cosine_decay(2e-3, TOTAL, 5e-5))
    return m, o


def score(m):
    lt, _ = m(mx.array(tay_tx))
    la, _ = m(mx.array(aln_x[:2000]))
    a_t = float(mx.mean(mx.argmax(lt, 1) == mx.array(tay_ty)).item()) * 100
    a_a = float(mx.mean(mx.argmax(la, 1) == mx.array(aln_y[:2000])).item()) * 100
    return a_a, a_t


def run_session(m, o, start_epoch, end_epoch, step, t0):
    vg = nn.value_and_grad(m, objective)
    for epoch in range(start_epoch, end_epoch + 1):
        ps, pt = rng.permutation(len(aln_x)), rng.permutation(len(tay_x))
        sums = np.zeros(3)
        for i in range(SPE):
            s = mx.array(ps[i * BATCH:(i + 1) * BATCH])
            t = mx.array(pt[i * BATCH:(i + 1) * BATCH])
            lam = mx.array(lam_at(step))
            (loss, (ce, coral)), grads = vg(m, mx.array(aln_x)[s], mx.array(aln_y)[s],
                                            mx.array(tay_x)[t], lam)
            if step == 0:
                flat = tree_flatten(grads)
                print(f"[check] step 0 lam {lam.item():.1f} grad leaves {len(flat)} "
                      f"zero {[k for k, g in flat if float(mx.abs(g).max().item()) == 0]}")
            o.update(m, grads)
            mx.eval(m.parameters(), o.state, loss, ce, coral)
            sums += [loss.item(), ce.item(), coral.item()]
            step += 1
        if epoch % 2 == 0 or epoch in (start_epoch, end_epoch):
            a_a, a_t = score(m)
            print(f"[epoch {epoch:2d}] step {step:5d}  lam {lam_at(step):5.2f}  "
                  f"lr {o.learning_rate.item():.2e}  total {sums[0] / SPE:.4f}  "
                  f"ce {sums[1] / SPE:.4f}  coral {sums[2] / SPE:.5f}  "
                  f"aln_acc {a_a:5.1f}%  tay_acc {a_t:5.1f}%  "
                  f"t {time.perf_counter() - t0:4.1f}s")
    return step


print(f"[data] aln {aln_x.shape} tay {tay_x.shape} species {SPECIES} "
      f"chance {100 / SPECIES:.0f}%")
t0 = time.perf_counter()

# a plain source-only model as the yardstick
mx.random.seed(5)
base, base_opt = build()
bvg = nn.value_and_grad(base, lambda m, x, y: nn.losses.cross_entropy(m(x)[0], y, reduction="mean"))
for epoch in range(EPOCHS):
    perm = rng.permutation(len(aln_x))
    for i in range(SPE):
        s = mx.array(perm[i * BATCH:(i + 1) * BATCH])
        l, g = bvg(base, mx.array(aln_x)[s], mx.array(aln_y)[s])
        base_opt.update(base, g)
        mx.eval(base.parameters(), base_opt.state)
b_a, b_t = score(base)
print(f"[yardstick] source-only  aln_acc {b_a:5.1f}%  tay_acc {b_t:5.1f}%  "
      f"t {time.perf_counter() - t0:4.1f}s")

mx.random.seed(5)
model, opt = build()
step = run_session(model, opt, 1, SPLIT_AT, 0, t0)

ckdir = tempfile.mkdtemp()
model.save_weights(os.path.join(ckdir, "weights.safetensors"))
mx.save_safetensors(os.path.join(ckdir, "opt.safetensors"), dict(tree_flatten(opt.state)))
with open(os.path.join(ckdir, "meta.json"), "w") as fh:
    json.dump({"epoch": SPLIT_AT, "step": step}, fh)
probe = (mx.array(aln_x[:256]), mx.array(aln_y[:256]), mx.array(tay_x[:256]), mx.array(1.0))
before = objective(model, *probe)[0].item()
print(f"[ckpt] saved after epoch {SPLIT_AT}, step {step}, files "
      f"{sorted(os.listdir(ckdir))}")
del model, opt

model, opt = build()
model.load_weights(os.path.join(ckdir, "weights.safetensors"))
opt.init(model.trainable_parameters())
opt.state = tree_unflatten(list(mx.load(os.path.join(ckdir, "opt.safetensors")).items()))
with open(os.path.join(ckdir, "meta.json")) as fh:
    meta = json.load(fh)
after = objective(model, *probe)[0].item()
print(f"[ckpt] resumed at step {int(opt.state['step'].item())} (meta {meta['step']}), "
      f"lr {opt.learning_rate.item():.2e}, probe loss {before:.6f} -> {after:.6f}")
step = run_session(model, opt, meta["epoch"] + 1, EPOCHS, meta["step"], t0)
shutil.rmtree(ckdir)

a_a, a_t = score(model)
print(f"[done] aligned aln_acc {a_a:.1f}%  tay_acc {a_t:.1f}%  vs source-only tay_acc "
      f"{b_t:.1f}%  steps {step}  t {time.perf_counter() - t0:.1f}s")
