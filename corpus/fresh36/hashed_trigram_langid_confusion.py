# fastText-style language identification of short synthetic "words" from 4 made-up
# languages (each has its own letter-bigram Markov chain). Features are hashed
# character trigrams (4096 buckets) averaged through an embedding bag; plain SGD.
# Every 3 epochs a confusion matrix (rows = true, cols = predicted) is printed.
import random, time, zlib
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

random.seed(5); mx.random.seed(5)
LETTERS = "aeioubdgklmnprst"
LANGS = ["vel", "oru", "kat", "sim"]

def make_chain(seed):
    r = random.Random(seed)
    return {a: [r.random() ** 4 for _ in LETTERS] for a in LETTERS + "^"}

CHAINS = [make_chain(100 + i) for i in range(len(LANGS))]

def word(lang):
    ch, prev, out = CHAINS[lang], "^", []
    for _ in range(random.randint(3, 9)):
        prev = random.choices(LETTERS, weights=ch[prev])[0]
        out.append(prev)
    return "".join(out)

BUCKETS, MAXF = 4096, 12
def features(w):
    s = f"<{w}>"
    ids = [(zlib.crc32(s[i:i + 3].encode()) % (BUCKETS - 1)) + 1 for i in range(len(s) - 2)][:MAXF]
    return ids + [0] * (MAXF - len(ids))        # 0 = padding bucket

def dataset(n):
    ys = [random.randrange(len(LANGS)) for _ in range(n)]
    return mx.array([features(word(y)) for y in ys]), mx.array(ys)

Xtr, ytr = dataset(8000)
Xte, yte = dataset(2000)

class BagClassifier(nn.Module):
    def __init__(self, dim=24):
        super().__init__()
        self.emb = nn.Embedding(BUCKETS, dim)
        self.out = nn.Linear(dim, len(LANGS))
    def __call__(self, x):
        mask = (x > 0).astype(mx.float32)[..., None]
        bag = (self.emb(x) * mask).sum(1) / mx.maximum(mask.sum(1), 1.0)
        return self.out(bag)

model = BagClassifier()
mx.eval(model.parameters())
def loss_fn(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")
vg = nn.value_and_grad(model, loss_fn)

_, g = vg(model, Xtr[:512], ytr[:512])
print("grad |max| per leaf:", {k: round(float(mx.abs(v).max()), 5) for k, v in tree_flatten(g)})
print(f"chance accuracy {1 / len(LANGS):.2f}; words are 3-9 letters so short ones stay ambiguous")

opt = optim.SGD(learning_rate=0.5)
t0 = time.time()
for epoch in range(1, 19):
    perm = mx.random.permutation(Xtr.shape[0])
    tot = 0.0
    for i in range(0, Xtr.shape[0], 64):
        idx = perm[i:i + 64]
        loss, grads = vg(model, Xtr[idx], ytr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item() * idx.shape[0]
    if epoch % 3 == 0 or epoch == 1:
        pred = mx.argmax(model(Xte), axis=1)
        acc = float((pred == yte).mean())
        print(f"\nepoch {epoch}  train_ce {tot / Xtr.shape[0]:.4f}  test_ce {loss_fn(model, Xte, yte).item():.4f}  test_acc {acc:.3f}  [{time.time() - t0:.1f}s]")
        print("        " + " ".join(f"{l:>5}" for l in LANGS))
        for t in range(len(LANGS)):
            row = [int(((yte == t) & (pred == p)).sum()) for p in range(len(LANGS))]
            print(f"  {LANGS[t]:>5} " + " ".join(f"{c:5d}" for c in row))
