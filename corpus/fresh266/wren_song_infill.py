import math, os, tempfile, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(7)
mx.random.seed(7)
N_SYL, PAD, MASK = 12, 12, 13
VOCAB, L = 14, 20

def song(n):
    # a wren song: repeated motifs of 3 syllables drawn from a grammar
    out = np.empty((n, L), dtype=np.int32)
    for i in range(n):
        a = rng.integers(0, 4)
        motif = [a, (a * 3 + 1) % N_SYL, (a + 5) % N_SYL]
        seq = []
        while len(seq) < L:
            if rng.random() < 0.25:
                motif = [motif[1], motif[2], (motif[2] + 4) % N_SYL]
            seq.extend(motif)
        out[i] = seq[:L]
    return out

train, valid = song(4000), song(400)
uni = np.bincount(train.ravel(), minlength=N_SYL) / train.size
uni_bits = float(-(uni * np.log2(uni + 1e-12)).sum())

def corrupt(x, ratio, r):
    sel = r.random(x.shape) < ratio
    roll = r.random(x.shape)
    inp = x.copy()
    inp[sel & (roll < 0.8)] = MASK
    rnd = sel & (roll >= 0.8) & (roll < 0.9)
    inp[rnd] = r.integers(0, N_SYL, rnd.sum())
    return inp, sel

class Encoder(nn.Module):
    def __init__(self, d=32, layers=2):
        super().__init__()
        self.tok = nn.Embedding(VOCAB, d)
        self.pos = nn.Embedding(L, d)
        self.blocks = [nn.TransformerEncoderLayer(d, 4, 64) for _ in range(layers)]
        self.norm = nn.LayerNorm(d)
        self.out = nn.Linear(d, N_SYL)
    def __call__(self, x):
        h = self.tok(x) + self.pos(mx.arange(x.shape[1]))
        for b in self.blocks:
            h = b(h, None)
        return self.out(self.norm(h))

def loss_fn(model, inp, tgt, sel):
    ce = nn.losses.cross_entropy(model(inp), tgt)
    w = sel.astype(mx.float32)
    return (ce * w).sum() / mx.maximum(w.sum(), 1.0)

def evaluate(model, ratio):
    r = np.random.default_rng(123)
    inp, sel = corrupt(valid, ratio, r)
    logits = model(mx.array(inp))
    ce = nn.losses.cross_entropy(logits, mx.array(valid))
    w = mx.array(sel.astype(np.float32))
    bits = ((ce * w).sum() / w.sum()).item() / math.log(2)
    acc = ((mx.argmax(logits, -1) == mx.array(valid)) * w).sum().item() / w.sum().item()
    return bits, 100 * acc

TOTAL, BS = 400, 32
sched = optim.join_schedules([optim.linear_schedule(0.0, 2e-3, 60),
                              optim.cosine_decay(2e-3, TOTAL - 60, 1e-5)], [60])
ratios = {0: 0.15, 150: 0.30, 300: 0.45}
ckdir = tempfile.mkdtemp()

def build():
    m = Encoder()
    o = optim.Lion(learning_rate=sched, weight_decay=0.01)
    return m, o

model, opt = build()
step_fn = nn.value_and_grad(model, loss_fn)
ratio = 0.15
print("step,mask_ratio,lr,train_bits,valid_bits,valid_acc_pct,unigram_bits,secs")
t0 = time.time(); acc_loss, n_acc = 0.0, 0
step = 0
while step < TOTAL:
    if step in ratios:
        ratio = ratios[step]
    if step == 225 and not os.path.exists(os.path.join(ckdir, "done")):
        # checkpoint, drop everything, resume from disk
        model.save_weights(os.path.join(ckdir, "w.safetensors"))
        mx.save_safetensors(os.path.join(ckdir, "o.safetensors"), dict(tree_flatten(opt.state)))
        open(os.path.join(ckdir, "done"), "w").close()
        model, opt = build()
        model.load_weights(os.path.join(ckdir, "w.safetensors"))
        opt.state = tree_unflatten(list(mx.load(os.path.join(ckdir, "o.safetensors")).items()))
        step_fn = nn.value_and_grad(model, loss_fn)
        print(f"# resumed at step {step}, optimizer step {opt.step.item()}")
    idx = rng.integers(0, len(train), BS)
    x = train[idx]
    inp, sel = corrupt(x, ratio, rng)
    lr_used = float(opt.learning_rate) if step > 0 else 0.0
    loss, grads = step_fn(model, mx.array(inp), mx.array(x), mx.array(sel))
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    acc_loss += loss.item(); n_acc += 1
    step += 1
    if step % 50 == 0:
        vb, va = evaluate(model, ratio)
        print(f"{step},{ratio:.2f},{float(opt.learning_rate):.2e},{acc_loss/n_acc/math.log(2):.3f},{vb:.3f},{va:.1f},{uni_bits:.3f},{time.time()-t0:.1f}")
        acc_loss, n_acc = 0.0, 0
vb, va = evaluate(model, 0.15)
print(f"# final at ratio 0.15: valid {vb:.3f} bits, {va:.1f}% of hidden syllables recovered")
