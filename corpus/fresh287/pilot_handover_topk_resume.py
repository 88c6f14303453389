import os, tempfile, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

# Harbour pilot station: for each shift, 4 candidate handover notes are written;
# the duty officer marks only the best and the runner-up (top-2 of 4).
# A reward model scores each note from 7 note features.
rng = np.random.default_rng(7)
N_SHIFT, K, F = 3000, 4, 7
X = rng.normal(size=(N_SHIFT, K, F)).astype(np.float32)
length = X[..., 0]
def quality(x):
    return (0.9 * np.tanh(x[..., 1]) + 0.6 * x[..., 2] * x[..., 3] - 0.5 * x[..., 4] ** 2
            + 0.3 * x[..., 0] + 0.4 * np.sin(2 * x[..., 5]))
Q = quality(X)
g = rng.gumbel(size=Q.shape) * 0.7
order = np.argsort(-(Q + g), axis=1)[:, :2]          # officer's top-2
tr, te = slice(0, 2400), slice(2400, None)
Xtr, Otr, Xte, Ote, Qte = mx.array(X[tr]), mx.array(order[tr]), mx.array(X[te]), mx.array(order[te]), Q[te]

class NoteScorer(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(F, 48)
        self.l2 = nn.Linear(48, 48)
        self.head = nn.Linear(48, 1, bias=False)
    def __call__(self, x):
        return self.head(nn.silu(self.l2(nn.silu(self.l1(x))))).squeeze(-1)

def top2_pl_nll(model, x, o):
    s = model(x)                                     # (B, K)
    first = mx.take_along_axis(s, o[:, :1], axis=1).squeeze(1)
    second = mx.take_along_axis(s, o[:, 1:2], axis=1).squeeze(1)
    lse_all = mx.logsumexp(s, axis=1)
    mask = mx.arange(K)[None, :] == o[:, :1]
    lse_rest = mx.logsumexp(mx.where(mask, -1e9, s), axis=1)
    return mx.mean(-(first - lse_all) - (second - lse_rest))

def evaluate(model):
    s = np.array(model(Xte))
    top1 = np.mean(np.argmax(s, 1) == np.array(Ote)[:, 0])
    best_true = np.mean(np.argmax(s, 1) == np.argmax(Qte, 1))
    return float(top2_pl_nll(model, Xte, Ote).item()), 100 * top1, 100 * best_true

EPOCHS, BS = 16, 64
steps_per_epoch = 2400 // BS
warm = steps_per_epoch * 2
sched = optim.join_schedules([optim.linear_schedule(0.0, 3e-3, warm),
                              optim.cosine_decay(3e-3, steps_per_epoch * (EPOCHS - 2), 1e-4)], [warm])

def build():
    m = NoteScorer()
    o = optim.Adam(learning_rate=sched)
    return m, o

def run_epochs(model, opt, start, stop, perm_rng):
    lg = nn.value_and_grad(model, top2_pl_nll)
    for ep in range(start, stop):
        perm = perm_rng.permutation(2400)
        tot = 0.0
        for i in range(steps_per_epoch):
            idx = mx.array(perm[i * BS:(i + 1) * BS])
            loss, grads = lg(model, Xtr[idx], Otr[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
        nll, top1, best = evaluate(model)
        print(f"| {ep + 1:>5} | {opt.step.item():>5} | {float(opt.learning_rate.item()):.2e} | "
              f"{tot / steps_per_epoch:.4f} | {nll:.4f} | {top1:5.1f} | {best:5.1f} |")

t0 = time.time()
mx.random.seed(3)
s_len = np.argmax(length[te], 1)
print("## pilot handover reward model (top-2 Plackett-Luce, 4 notes per shift)")
print(f"reference top-1 agreement: longest-note {100*np.mean(s_len == order[te][:,0]):.1f}% | "
      f"oracle quality {100*np.mean(np.argmax(Qte,1) == order[te][:,0]):.1f}% | uniform {100/K:.1f}%")
print(f"reference nll: uniform top-2 {np.log(K) + np.log(K-1):.4f}")
print()
print("| epoch | step | lr | train nll | test nll | top1 % | true-best % |")
print("|------:|-----:|---:|----------:|---------:|-------:|------------:|")
model, opt = build()
mx.eval(model.parameters())
perm_rng = np.random.default_rng(11)
run_epochs(model, opt, 0, 8, perm_rng)

ckpt = tempfile.mkdtemp()
model.save_weights(os.path.join(ckpt, "scorer.safetensors"))
mx.save_safetensors(os.path.join(ckpt, "adam.safetensors"), dict(tree_flatten(opt.state)))
rng_state = perm_rng.bit_generator.state
del model, opt
print("| -- | checkpoint written, session closed, resumed from disk | | | | | |")

model, opt = build()
model.load_weights(os.path.join(ckpt, "scorer.safetensors"))
opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt, "adam.safetensors")).items()))
perm_rng = np.random.default_rng(); perm_rng.bit_generator.state = rng_state
run_epochs(model, opt, 8, EPOCHS, perm_rng)

nll, top1, best = evaluate(model)
print()
print(f"final: test nll {nll:.4f}, top-1 agreement {top1:.1f}%, picks the truly best note {best:.1f}% "
      f"({time.time() - t0:.1f}s)")
