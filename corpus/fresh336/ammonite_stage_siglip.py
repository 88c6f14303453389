# Palaeontology collection: SigLIP-style (pairwise sigmoid) matching of ammonite
# shell-outline descriptors (24 elliptic-Fourier-like coefficients) to drawer-label
# token strings (formation, stage, facies).  Warm-restart cosine schedule with two
# cycles, gradients accumulated over 2 micro-batches, logs only every 150 steps.
import math, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map

rng = np.random.default_rng(11)
mx.random.seed(11)

D, N_SP = 24, 36
FORMS, STAGES, FACIES = 4, 9, 3
VOCAB = 1 + FORMS + STAGES + FACIES
species_label = []
for s in range(N_SP):
    st = s % STAGES
    fo = st * FORMS // STAGES
    fa = (s // STAGES) % FACIES
    species_label.append([1 + fo, 1 + FORMS + st, 1 + FORMS + STAGES + fa])
species_label = np.array(species_label, dtype=np.int32)
stage_of = species_label[:, 1] - 1 - FORMS
proto = rng.normal(0, 1, (N_SP, D)) / np.sqrt(np.arange(1, D + 1))[None, :] * 3.0

def specimens(n):
    sp = rng.integers(0, N_SP, n)
    growth = rng.uniform(0.7, 1.3, (n, 1))
    x = proto[sp] * growth + rng.normal(0, 0.9, (n, D))
    eroded = rng.random((n, D)) < 0.15
    x[eroded] = 0.0
    return x.astype(np.float32), sp

Xtr, Str = specimens(5000)
Xte, Ste = specimens(1000)
m, s = Xtr.mean(0), Xtr.std(0) + 1e-6
Xtr, Xte = (Xtr - m) / s, (Xte - m) / s

# baselines on the held-out drawer
majority = np.bincount(stage_of[Str]).max() / len(Str)
cent = np.stack([Xtr[Str == k].mean(0) for k in range(N_SP)])
nn_sp = np.argmin(((Xte[:, None, :] - cent[None]) ** 2).sum(-1), 1)
centroid_acc = float((stage_of[nn_sp] == stage_of[Ste]).mean())


class ShellTower(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(D, 96), nn.SiLU(), nn.Linear(96, 96), nn.SiLU(), nn.Linear(96, 32))
    def __call__(self, x):
        return self.net(x)

class LabelTower(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(VOCAB, 32)
        self.slot = nn.Embedding(3, 32)
        self.mix = nn.Sequential(nn.Linear(32, 64), nn.SiLU(), nn.Linear(64, 32))
    def __call__(self, t):
        return self.mix((self.emb(t) + self.slot(mx.arange(3))).mean(1))

class Matcher(nn.Module):
    def __init__(self):
        super().__init__()
        self.shell = ShellTower()
        self.label = LabelTower()
        self.t_prime = mx.array(math.log(10.0))
        self.bias = mx.array(-10.0)
    def __call__(self, x, t):
        a = self.shell(x); b = self.label(t)
        a = a / mx.linalg.norm(a, axis=-1, keepdims=True)
        b = b / mx.linalg.norm(b, axis=-1, keepdims=True)
        return mx.exp(self.t_prime) * (a @ b.T) + self.bias

def sigmoid_pair_loss(model, x, t, same):
    z = model(x, t)
    sign = 2.0 * same - 1.0
    return -mx.sum(nn.log_sigmoid(sign * z)) / x.shape[0]

def stage_accuracy(model):
    z = np.array(model(mx.array(Xte), mx.array(species_label)))
    return float((stage_of[z.argmax(1)] == stage_of[Ste]).mean())

def positive_loglik(model, x, t):
    z = model(x, t)
    return mx.mean(nn.log_sigmoid(mx.diagonal(z))).item()

CYCLES, PEAK, BS, ACC = [300, 600], 3e-3, 32, 2
STEPS = sum(CYCLES)
def lr_at(step):
    c0 = 0
    for L in CYCLES:
        if step < c0 + L:
            return 2e-5 + 0.5 * (PEAK - 2e-5) * (1 + math.cos(math.pi * (step - c0) / L))
        c0 += L

model = Matcher()
mx.eval(model.parameters())
opt = optim.Adam(learning_rate=PEAK)
lg = nn.value_and_grad(model, sigmoid_pair_loss)
print(f"species={N_SP} stages={STAGES} train={len(Xtr)} test={len(Xte)}")
print(f"baselines: majority stage={majority:.3f}  raw-descriptor nearest centroid={centroid_acc:.3f}")
print(f"start: zero-shot stage acc={stage_accuracy(model):.3f}")

t0 = time.time()
vx, vs = mx.array(Xte[:256]), Ste[:256]
for step in range(STEPS):
    opt.learning_rate = lr_at(step)
    acc_g, acc_l = None, 0.0
    for _ in range(ACC):
        idx = rng.choice(len(Xtr), BS, replace=False)
        sp = Str[idx]
        same = mx.array((sp[:, None] == sp[None, :]).astype(np.float32))
        loss, g = lg(model, mx.array(Xtr[idx]), mx.array(species_label[sp]), same)
        acc_g = g if acc_g is None else tree_map(lambda a, b: a + b, acc_g, g)
        acc_l += loss.item() / ACC
    opt.update(model, tree_map(lambda a: a / ACC, acc_g))
    mx.eval(model.parameters(), opt.state)
    if step in (0, CYCLES[0] - 1, CYCLES[0]) or (step + 1) % 150 == 0:
        tag = "  <- warm restart" if step == CYCLES[0] else ""
        print(f"step {step:4d} lr {lr_at(step):.2e} loss {acc_l:.4f} "
              f"pos-loglik {positive_loglik(model, vx, mx.array(species_label[vs])):+.4f} "
              f"bias {model.bias.item():+.3f} temp {math.exp(model.t_prime.item()):.2f}{tag}")

acc = stage_accuracy(model)
print(f"final zero-shot stage acc={acc:.3f} vs majority {majority:.3f} and nearest centroid {centroid_acc:.3f}")
print(f"done in {time.time() - t0:.1f}s")
