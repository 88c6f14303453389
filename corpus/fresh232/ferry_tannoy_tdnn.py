"""Ferry-terminal tannoy phone recogniser: dilated TDNN + CTC, with a mid-run checkpoint and resume."""
import os, tempfile, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

N_PH, FEAT, T, MAXL = 6, 12, 22, 4
BLANK = 0
rng = np.random.default_rng(7)
protos = rng.normal(0, 1.0, (N_PH + 1, FEAT)).astype(np.float32)


def make_set(n):
    X = np.repeat(protos[0][None, None, :], T, axis=1).repeat(n, axis=0)
    Y = np.zeros((n, MAXL), np.int32)
    L = np.zeros((n,), np.int32)
    for i in range(n):
        k = rng.integers(2, MAXL + 1)
        seq, t = [], int(rng.integers(0, 3))
        for j in range(k):
            p = int(rng.integers(1, N_PH + 1))
            dur = int(rng.integers(2, 5))
            if t + dur > T:
                break
            X[i, t:t + dur] = protos[p]
            seq.append(p)
            t += dur + int(rng.integers(1, 3))
        Y[i, :len(seq)] = seq
        L[i] = len(seq)
    X = X + rng.normal(0, 0.6, X.shape).astype(np.float32)
    return mx.array(X), mx.array(Y), mx.array(L)


class TDNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv1d(FEAT, 48, 3, padding=1)
        self.c2 = nn.Conv1d(48, 48, 3, padding=2, dilation=2)
        self.c3 = nn.Conv1d(48, 48, 3, padding=4, dilation=4)
        self.norm = nn.LayerNorm(48)
        self.out = nn.Linear(48, N_PH + 1)

    def __call__(self, x):
        h = nn.gelu(self.c1(x))
        h = h + nn.gelu(self.c2(h))
        h = h + nn.gelu(self.c3(h))
        return self.out(self.norm(h))


NEG = -1e9


def ctc_nll(logits, Y, L):
    lp = logits - mx.logsumexp(logits, axis=-1, keepdims=True)
    B = Y.shape[0]
    S = 2 * MAXL + 1
    ext = mx.zeros((B, S), dtype=mx.int32)
    ext = mx.concatenate([mx.stack([mx.zeros_like(Y), Y], axis=2).reshape(B, -1), mx.zeros((B, 1), mx.int32)], axis=1)
    prev2 = mx.concatenate([mx.full((B, 2), -1, mx.int32), ext[:, :-2]], axis=1)
    can_skip = (ext != BLANK) & (ext != prev2)
    emit0 = mx.take_along_axis(lp[:, 0, :], ext, axis=1)
    pos = mx.arange(S)[None, :]
    alpha = mx.where(pos < 2, emit0, NEG)
    for t in range(1, T):
        a1 = mx.concatenate([mx.full((B, 1), NEG), alpha[:, :-1]], axis=1)
        a2 = mx.concatenate([mx.full((B, 2), NEG), alpha[:, :-2]], axis=1)
        a2 = mx.where(can_skip, a2, NEG)
        m = mx.logaddexp(mx.logaddexp(alpha, a1), a2)
        alpha = m + mx.take_along_axis(lp[:, t, :], ext, axis=1)
    end1 = mx.take_along_axis(alpha, (2 * L)[:, None], axis=1)[:, 0]
    end2 = mx.take_along_axis(alpha, mx.maximum(2 * L - 1, 0)[:, None], axis=1)[:, 0]
    ll = mx.where(L > 0, mx.logaddexp(end1, end2), end1)
    return -ll


def edit(a, b):
    d = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        prev, d[0] = d[0], i
        for j, y in enumerate(b, 1):
            cur = d[j]
            d[j] = min(d[j] + 1, d[j - 1] + 1, prev + (x != y))
            prev = cur
    return d[-1]


def per(model, X, Y, L):
    pred = np.array(mx.argmax(model(X), axis=-1))
    Yn, Ln = np.array(Y), np.array(L)
    errs = tot = 0
    for i in range(len(pred)):
        hyp, last = [], -1
        for p in pred[i]:
            if p != last and p != BLANK:
                hyp.append(int(p))
            last = p
        ref = list(Yn[i, :Ln[i]])
        errs += edit(ref, hyp)
        tot += len(ref)
    return 100.0 * errs / tot


Xtr, Ytr, Ltr = make_set(1280)
Xva, Yva, Lva = make_set(300)
BS, EPOCHS, SPLIT = 32, 6, 3
steps_per_epoch = Xtr.shape[0] // BS
total = steps_per_epoch * EPOCHS
warm = steps_per_epoch
sched = optim.join_schedules([optim.linear_schedule(0.0, 3e-3, warm),
                              optim.cosine_decay(3e-3, total - warm, 1e-4)], [warm])


def build():
    m = TDNN()
    o = optim.AdamW(learning_rate=sched, weight_decay=1e-3)
    return m, o


def loss_fn(m, x, y, l):
    return ctc_nll(m(x), y, l).mean()


def run_epochs(model, opt, e0, e1, perm_rng):
    vg = nn.value_and_grad(model, loss_fn)
    def step(x, y, l):
        loss, g = vg(model, x, y, l)
        opt.update(model, g)
        return loss

    for ep in range(e0, e1):
        t0 = time.time()
        perm = perm_rng.permutation(Xtr.shape[0])
        tot = 0.0
        for s in range(steps_per_epoch):
            idx = mx.array(perm[s * BS:(s + 1) * BS])
            lr_now = float(opt.learning_rate)
            loss = step(Xtr[idx], Ytr[idx], Ltr[idx])
            mx.eval(model.state, opt.state, loss)
            tot += loss.item()
        vl = ctc_nll(model(Xva), Yva, Lva).mean().item()
        print(f"{ep+1},{int(opt.step.item()) if hasattr(opt,'step') else 0},{lr_now:.2e},{tot/steps_per_epoch:.3f},{vl:.3f},{per(model, Xva, Yva, Lva):.1f},100.0,{time.time()-t0:.1f}")


mx.random.seed(0)
model, opt = build()
opt.init(model.trainable_parameters())
print(f"# train {Xtr.shape[0]} utts, val {Xva.shape[0]}, {N_PH} phones + blank, T={T}")
# first-batch gradient check
_, g0 = nn.value_and_grad(model, loss_fn)(model, Xtr[:BS], Ytr[:BS], Ltr[:BS])
gn = {k: float(mx.sqrt((v * v).sum())) for k, v in tree_flatten(g0)}
print(f"# grad check: {len(gn)} tensors, min |g| {min(gn.values()):.2e}, max |g| {max(gn.values()):.2e}")
print("epoch,opt_step,lr_last,train_ctc,val_ctc,val_per_pct,blank_only_per_pct,sec")
prng = np.random.default_rng(11)
run_epochs(model, opt, 0, SPLIT, prng)

ckdir = tempfile.mkdtemp(prefix="tannoy_")
model.save_weights(os.path.join(ckdir, "model.safetensors"))
mx.save_safetensors(os.path.join(ckdir, "opt.safetensors"), dict(tree_flatten(opt.state)))
print(f"# checkpoint written after epoch {SPLIT}; starting a fresh process image from it")
ref_val = ctc_nll(model(Xva), Yva, Lva).mean().item()
del model, opt

model, opt = build()
model.load_weights(os.path.join(ckdir, "model.safetensors"))
opt.init(model.trainable_parameters())
opt.state = tree_unflatten(list(mx.load(os.path.join(ckdir, "opt.safetensors")).items()))
print(f"# resumed: val_ctc {ctc_nll(model(Xva), Yva, Lva).mean().item():.3f} (saved {ref_val:.3f}), opt step {int(opt.step.item())}")
run_epochs(model, opt, SPLIT, EPOCHS, prng)

samples = np.array(mx.argmax(model(Xva[:3]), axis=-1))
for i in range(3):
    hyp, last = [], -1
    for p in samples[i]:
        if p != last and p != BLANK:
            hyp.append(int(p))
        last = p
    print(f"# ref {[int(v) for v in np.array(Yva[i, :int(Lva[i].item())])]} -> hyp {hyp}")
