# Real-ale cellar notes: bag-of-words sentence encoder (token embedding, residual
# GELU mixer, mean over real tokens) for tasting notes, trained with CoSENT
# on graded (0-5) similarity pairs. Two warm-restart cycles; the second cycle
# runs in a resumed session from a checkpoint written at the end of the first.
import os, tempfile, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(7)
mx.random.seed(7)

FACETS = [
    ["malty", "biscuity", "bready", "toffee"],
    ["hoppy", "resinous", "piney", "grassy"],
    ["citrus", "zesty", "grapefruit", "orange"],
    ["roasty", "coffee", "chocolate", "smoky"],
    ["fruity", "plummy", "banana", "berry"],
    ["sour", "tart", "funky", "acidic"],
]
FILLER = ["with", "a", "and", "notes", "of", "finish", "nose", "some", "very", "light", "long"]
VOCAB = ["<pad>", "<cls>"] + [w for f in FACETS for w in f] + FILLER
IDX = {w: i for i, w in enumerate(VOCAB)}
MAXLEN = 12  # cls + up to 11 words


def profile():
    return rng.dirichlet(np.full(len(FACETS), 0.4))


def sentence(p):
    n_flav = rng.integers(3, 8)
    words = []
    for _ in range(n_flav):
        f = rng.choice(len(FACETS), p=p)
        words.append(FACETS[f][rng.integers(4)])
    words += list(rng.choice(FILLER, size=rng.integers(0, 4)))
    rng.shuffle(words)
    return words[: MAXLEN - 1]


def make_pairs(n):
    a_ids = np.zeros((n, MAXLEN), np.int32)
    b_ids = np.zeros((n, MAXLEN), np.int32)
    labels = np.zeros(n, np.float32)
    lex = np.zeros(n, np.float32)
    for i in range(n):
        p1 = profile()
        if rng.random() < 0.45:
            p2 = np.abs(p1 + rng.normal(0, 0.08, p1.shape)); p2 /= p2.sum()
        else:
            p2 = profile()
        s1, s2 = sentence(p1), sentence(p2)
        for row, s in ((a_ids, s1), (b_ids, s2)):
            row[i, 0] = IDX["<cls>"]
            row[i, 1:1 + len(s)] = [IDX[w] for w in s]
        c = p1 @ p2 / (np.linalg.norm(p1) * np.linalg.norm(p2))
        labels[i] = np.clip(5 * c + rng.normal(0, 0.35), 0, 5)
        w1, w2 = set(s1) - set(FILLER), set(s2) - set(FILLER)
        lex[i] = len(w1 & w2) / max(1, len(w1 | w2))
    return a_ids, b_ids, labels, lex


def spearman(x, y):
    rx = np.argsort(np.argsort(x)).astype(np.float64)
    ry = np.argsort(np.argsort(y)).astype(np.float64)
    rx -= rx.mean(); ry -= ry.mean()
    return float((rx * ry).sum() / np.sqrt((rx ** 2).sum() * (ry ** 2).sum()))


class NoteEncoder(nn.Module):
    def __init__(self, vocab, dims=48, out=32):
        super().__init__()
        self.tok = nn.Embedding(vocab, dims)
        self.mix = nn.Sequential(nn.Linear(dims, 96), nn.GELU(), nn.Linear(96, dims))
        self.proj = nn.Linear(dims, out)

    def __call__(self, ids):
        keep = ((ids != 0) & (ids != 1)).astype(mx.float32)[..., None]
        h = self.tok(ids)
        h = h + self.mix(h)
        pooled = (h * keep).sum(1) / mx.maximum(keep.sum(1), 1.0)
        return self.proj(pooled)


def cosine(u, v):
    u = u / mx.maximum(mx.linalg.norm(u, axis=-1, keepdims=True), 1e-8)
    v = v / mx.maximum(mx.linalg.norm(v, axis=-1, keepdims=True), 1e-8)
    return (u * v).sum(-1)


def cosent(model, a, b, y, scale=20.0):
    cos = cosine(model(a), model(b)) * scale
    diff = cos[None, :] - cos[:, None]
    ranked = (y[:, None] > y[None, :]).astype(diff.dtype)
    diff = diff - (1 - ranked) * 1e12
    return mx.logsumexp(mx.concatenate([mx.zeros((1,)), diff.reshape(-1)]))


def evaluate(model, a, b, y):
    model.eval()
    c = np.array(cosine(model(mx.array(a)), model(mx.array(b))))
    model.train()
    return spearman(c, y)


def lr_at(step_in_cycle, peak=3e-3, warm=30, length=200, floor=1e-5):
    if step_in_cycle < warm:
        return peak * step_in_cycle / warm  # exactly 0 at the first step of a cycle
    t = (step_in_cycle - warm) / (length - warm)
    return floor + 0.5 * (peak - floor) * (1 + np.cos(np.pi * t))


t0 = time.time()
tr_a, tr_b, tr_y, _ = make_pairs(4000)
va_a, va_b, va_y, va_lex = make_pairs(800)
print(f"pairs train={len(tr_y)} valid={len(va_y)} vocab={len(VOCAB)} label mean={tr_y.mean():.2f}")
print(f"baseline spearman (word-overlap jaccard) valid={spearman(va_lex, va_y):.3f}")

CYCLE, BATCH = 200, 64
ckpt_dir = tempfile.mkdtemp()


def run_cycle(model, opt, cycle):
    step_fn = nn.value_and_grad(model, cosent)
    run = []
    for s in range(CYCLE):
        idx = rng.integers(0, len(tr_y), BATCH)
        opt.learning_rate = lr_at(s)
        loss, grads = step_fn(model, mx.array(tr_a[idx]), mx.array(tr_b[idx]), mx.array(tr_y[idx]))
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        run.append(loss.item())
        if s % 50 == 0 or s == CYCLE - 1:
            print(f"cycle {cycle} step {s:3d} lr {lr_at(s):.2e} cosent {np.mean(run[-50:]):.3f}")
    rho = evaluate(model, va_a, va_b, va_y)
    print(f"cycle {cycle} done  valid spearman={rho:.3f}")
    return rho


# session 1
model = NoteEncoder(len(VOCAB))
opt = optim.AdamW(learning_rate=0.0, weight_decay=0.01)
print(f"untrained valid spearman={evaluate(model, va_a, va_b, va_y):.3f}")
rho1 = run_cycle(model, opt, 1)
model.save_weights(os.path.join(ckpt_dir, "enc.safetensors"))
mx.save_safetensors(os.path.join(ckpt_dir, "opt.safetensors"), dict(tree_flatten(opt.state)))
del model, opt

# session 2: fresh objects, state read back from disk, new warm restart
model = NoteEncoder(len(VOCAB))
model.load_weights(os.path.join(ckpt_dir, "enc.safetensors"))
opt = optim.AdamW(learning_rate=0.0, weight_decay=0.01)
opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt_dir, "opt.safetensors")).items()))
print(f"resumed  valid spearman={evaluate(model, va_a, va_b, va_y):.3f} (saved {rho1:.3f}) opt step={int(opt.state['step'])}")
rho2 = run_cycle(model, opt, 2)
print(f"final valid spearman={rho2:.3f} vs word-overlap baseline {spearman(va_lex, va_y):.3f}  time={time.time()-t0:.1f}s")
