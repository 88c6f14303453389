import os, tempfile, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

# pond recorder: 5 frog species from synthetic 24-band log-mel clips (40 frames)
rng = np.random.default_rng(7)
N_MEL, T, K = 24, 40, 5
def make(n):
    y = rng.integers(0, K, n)
    x = rng.normal(0, 1.0, (n, T, N_MEL)).astype(np.float32)
    t = np.arange(T)
    for i in range(n):
        c = y[i]
        band = 3 + 4 * c + rng.integers(-1, 2)
        rate = 2 + c
        pulse = (np.sin(2 * np.pi * rate * t / T + rng.uniform(0, 6.28)) > 0.2).astype(np.float32)
        x[i, :, band] += 2.2 * pulse
        x[i, :, min(band + 1, N_MEL - 1)] += 1.0 * pulse
    return x, y.astype(np.int32)
xtr, ytr = make(3000); xva, yva = make(600)
mu, sd = xtr.mean((0, 1)), xtr.std((0, 1)) + 1e-5
xtr = (xtr - mu) / sd; xva = (xva - mu) / sd

class CallNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv1d(N_MEL, 32, 5, padding=2)
        self.c2 = nn.Conv1d(32, 32, 5, padding=2)
        self.head = nn.Linear(32, K)
    def __call__(self, x):
        h = nn.relu(self.c1(x)); h = nn.relu(self.c2(h))
        return self.head(h.mean(axis=1))

def build(total):
    m = CallNet()
    sched = optim.join_schedules([optim.linear_schedule(0.0, 2e-3, 50), optim.cosine_decay(2e-3, total - 50, 1e-5)], [50])
    return m, optim.AdamW(learning_rate=sched, weight_decay=1e-4)

def loss_fn(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")

def evaluate(m):
    lo = m(mx.array(xva))
    return nn.losses.cross_entropy(lo, mx.array(yva), reduction="mean").item(), (mx.argmax(lo, 1) == mx.array(yva)).mean().item() * 100

EPOCHS, B = 8, 100
steps_per = len(xtr) // B
mx.random.seed(0)
model, opt = build(EPOCHS * steps_per)
ckdir = tempfile.mkdtemp()
print("run\tepoch\tstep\tlr\ttrain_xent\tval_xent\tval_acc_pct\tchance_pct")
print(f"init\t0\t0\t0.0\t-\t{evaluate(model)[0]:.4f}\t{evaluate(model)[1]:.1f}\t{100/K:.1f}")
t0 = time.time()
def run_epochs(model, opt, start, stop, tag):
    vg = nn.value_and_grad(model, loss_fn)
    for ep in range(start, stop):
        perm = np.random.default_rng(100 + ep).permutation(len(xtr)); tot = 0.0
        for s in range(steps_per):
            idx = perm[s * B:(s + 1) * B]
            lr = opt.learning_rate.item()
            l, g = vg(model, mx.array(xtr[idx]), mx.array(ytr[idx]))
            opt.update(model, g); mx.eval(model.parameters(), opt.state, l); tot += l.item()
        vl, va = evaluate(model)
        print(f"{tag}\t{ep+1}\t{int(opt.step.item())}\t{lr:.2e}\t{tot/steps_per:.4f}\t{vl:.4f}\t{va:.1f}\t{100/K:.1f}")
run_epochs(model, opt, 0, 4, "first")
model.save_weights(os.path.join(ckdir, "w.safetensors"))
mx.save_safetensors(os.path.join(ckdir, "o.safetensors"), dict(tree_flatten(opt.state)))
print(f"# checkpoint written after epoch 4, process state dropped")
del model, opt
model2, opt2 = build(EPOCHS * steps_per)
model2.load_weights(os.path.join(ckdir, "w.safetensors"))
opt2.init(model2.trainable_parameters())
opt2.state = tree_unflatten(list(mx.load(os.path.join(ckdir, "o.safetensors")).items()))
print(f"# resumed at optimizer step {int(opt2.step.item())}")
run_epochs(model2, opt2, 4, EPOCHS, "resumed")
vl, va = evaluate(model2)
print(f"# done val_acc_pct={va:.1f} majority_pct={np.bincount(yva).max()/len(yva)*100:.1f} secs={time.time()-t0:.1f}")
