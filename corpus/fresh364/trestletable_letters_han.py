"""Village-hall booking letters: 4-way purpose classification with a
hierarchical attention network (word GRU + word attention -> sentence GRU +
sentence attention).  Each letter has 3-6 sentences of 4-8 words; the purpose
is named in the one sentence that opens with the marker word 'kindly'.  Other
sentences mention other purposes ("last year we held a ...") as distractors,
so a bag-of-words reader is confused while the attention reader is not.

Training runs in two sittings: the first sitting saves weights and optimizer
state to disk, the second builds a fresh model/optimizer, loads both and
carries on from the saved step.
"""
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(7)
mx.random.seed(7)

PURPOSES = ["wedding", "jumble", "choir", "yoga"]
CUES = {
    "wedding": ["reception", "bride", "toast", "bouquet", "vows", "ceilidh"],
    "jumble": ["bric-a-brac", "stall", "secondhand", "raffle", "bargains", "trestle"],
    "choir": ["rehearsal", "anthem", "sopranos", "hymn", "organist", "chorus"],
    "yoga": ["mats", "stretching", "breathing", "poses", "instructor", "mindful"],
}
FILLER = [f"w{i}" for i in range(90)]
MARK = "kindly"
PAST = "lastyear"
vocab = ["<pad>", MARK, PAST] + FILLER + [w for p in PURPOSES for w in CUES[p]]
wid = {w: i for i, w in enumerate(vocab)}
V = len(vocab)
S_MAX, W_MAX = 6, 8


def make_letter():
    label = int(rng.integers(4))
    n_sent = int(rng.integers(3, S_MAX + 1))
    key_pos = int(rng.integers(n_sent))
    sents = []
    for s in range(n_sent):
        n_w = int(rng.integers(4, W_MAX + 1))
        words = list(rng.choice(FILLER, size=n_w))
        if s == key_pos:
            words[0] = MARK
            for j in rng.choice(np.arange(1, n_w), size=2, replace=False):
                words[j] = rng.choice(CUES[PURPOSES[label]])
        elif rng.random() < 0.7:
            other = int(rng.choice([p for p in range(4) if p != label]))
            words[0] = PAST
            for j in rng.choice(np.arange(1, n_w), size=2, replace=False):
                words[j] = rng.choice(CUES[PURPOSES[other]])
        sents.append([wid[w] for w in words])
    ids = np.zeros((S_MAX, W_MAX), dtype=np.int32)
    for s, ws in enumerate(sents):
        ids[s, : len(ws)] = ws
    return ids, label


def make_split(n):
    xs, ys = zip(*[make_letter() for _ in range(n)])
    return np.stack(xs), np.array(ys, dtype=np.int32)


Xtr, Ytr = make_split(3000)
Xva, Yva = make_split(800)
# about 8% of the training letters were filed under a different purpose by the clerk
slip = rng.random(len(Ytr)) < 0.08
Ytr[slip] = (Ytr[slip] + rng.integers(1, 4, size=slip.sum())) % 4

# bag-of-words reference: count cue words per purpose, pick the largest
cue_of = np.full(V, -1)
for p, name in enumerate(PURPOSES):
    for w in CUES[name]:
        cue_of[wid[w]] = p


def bow_predict(X):
    preds = []
    for doc in X:
        counts = np.bincount(cue_of[doc.ravel()][cue_of[doc.ravel()] >= 0], minlength=4)
        preds.append(int(np.argmax(counts + rng.random(4) * 1e-3)))
    return np.array(preds)


bow_acc = float((bow_predict(Xva) == Yva).mean())
major_acc = float(np.bincount(Yva).max() / len(Yva))


class AttnPool(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.proj = nn.Linear(dim, dim)
        self.ctx = nn.Linear(dim, 1, bias=False)

    def __call__(self, h, mask):
        # h: (N, T, D), mask: (N, T) 1 for real positions
        u = mx.tanh(self.proj(h))
        score = self.ctx(u).squeeze(-1)
        score = mx.where(mask > 0, score, -1e9)
        a = mx.softmax(score, axis=-1)
        return (a[..., None] * h).sum(axis=1), a


class HAN(nn.Module):
    def __init__(self, vocab_size, emb=24, hid=32, n_cls=4):
        super().__init__()
        self.emb = nn.Embedding(vocab_size, emb)
        self.word_rnn = nn.GRU(emb, hid)
        self.word_att = AttnPool(hid)
        self.sent_rnn = nn.GRU(hid, hid)
        self.sent_att = AttnPool(hid)
        self.head = nn.Linear(hid, n_cls)

    def __call__(self, ids):
        B, S, W = ids.shape
        tok_mask = (ids > 0).astype(mx.float32)
        sent_mask = (tok_mask.sum(axis=-1) > 0).astype(mx.float32)
        x = self.emb(ids.reshape(B * S, W))
        hw = self.word_rnn(x)
        sv, _ = self.word_att(hw, tok_mask.reshape(B * S, W))
        sv = sv.reshape(B, S, -1)
        hs = self.sent_rnn(sv)
        dv, sent_a = self.sent_att(hs, sent_mask)
        return self.head(dv), sent_a


def loss_fn(model, ids, y):
    logits, _ = model(ids)
    return nn.losses.cross_entropy(logits, y, reduction="mean")


def evaluate(model, X, Y):
    logits, sent_a = model(mx.array(X))
    pred = np.array(mx.argmax(logits, axis=-1))
    acc = float((pred == Y).mean())
    # how often the sentence with the marker gets the largest attention weight
    key = (X[:, :, 0] == wid[MARK]).argmax(axis=1)
    hit = float((np.array(mx.argmax(sent_a, axis=-1)) == key).mean())
    return acc, hit


BATCH = 64
STEPS_PER_EPOCH = len(Xtr) // BATCH
EPOCHS = 6
TOTAL = EPOCHS * STEPS_PER_EPOCH
WARM = 90
PEAK = 4e-3
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, PEAK, WARM), optim.cosine_decay(PEAK, TOTAL - WARM, 1e-4)],
    [WARM],
)


def build():
    m = HAN(V)
    mx.eval(m.parameters())
    o = optim.AdamW(learning_rate=sched, weight_decay=0.01)
    return m, o


def run_epochs(model, opt, first_epoch, last_epoch, perm_rng):
    step_fn = nn.value_and_grad(model, loss_fn)
    for ep in range(first_epoch, last_epoch + 1):
        perm = perm_rng.permutation(len(Xtr))
        tot, n = 0.0, 0
        for b in range(STEPS_PER_EPOCH):
            idx = perm[b * BATCH : (b + 1) * BATCH]
            loss, grads = step_fn(model, mx.array(Xtr[idx]), mx.array(Ytr[idx]))
            grads, gnorm = optim.clip_grad_norm(grads, 5.0)
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
            n += 1
            step = int(opt.state["step"])
            if step <= 3 or step % 40 == 0:
                print(f"  step {step:4d}  lr {float(opt.learning_rate):.2e}  loss {loss.item():.4f}  |g| {gnorm.item():.3f}")
        va_acc, hit = evaluate(model, Xva, Yva)
        print(f"epoch {ep}  train_loss {tot / n:.4f}  val_acc {va_acc:.3f}  marker_attention_top1 {hit:.3f}  "
              f"(bag-of-words {bow_acc:.3f}, majority {major_acc:.3f})")


print(f"training labels filed under another purpose: {slip.mean():.3f}")
print(f"vocab {V}  train {len(Xtr)}  val {len(Xva)}  steps/epoch {STEPS_PER_EPOCH}  total steps {TOTAL}")
print(f"reference accuracies on val: majority {major_acc:.3f}  bag-of-words cue count {bow_acc:.3f}")
t0 = time.time()
perm_rng = np.random.default_rng(11)

model, opt = build()
print("sitting 1")
run_epochs(model, opt, 1, 3, perm_rng)

ckpt_dir = tempfile.mkdtemp()
w_path = os.path.join(ckpt_dir, "weights.safetensors")
o_path = os.path.join(ckpt_dir, "opt.safetensors")
model.save_weights(w_path)
mx.save_safetensors(o_path, dict(tree_flatten(opt.state)))
saved_step = int(opt.state["step"])
acc_before, _ = evaluate(model, Xva, Yva)
del model, opt

model, opt = build()
model.load_weights(w_path)
opt.init(model.trainable_parameters())
opt.state = tree_unflatten(list(mx.load(o_path).items()))
acc_after, _ = evaluate(model, Xva, Yva)
print(f"sitting 2: resumed at step {int(opt.state['step'])} (saved {saved_step}); "
      f"val_acc before save {acc_before:.3f}, after load {acc_after:.3f}")
run_epochs(model, opt, 4, EPOCHS, perm_rng)

va_acc, hit = evaluate(model, Xva, Yva)
print(f"final val_acc {va_acc:.3f}  marker_attention_top1 {hit:.3f}  bag-of-words {bow_acc:.3f}  "
      f"majority {major_acc:.3f}  time {time.time() - t0:.1f}s")
