"""Allotment society noticeboard: joint intent + slot tagging of members' messages.

A one-block encoder reads a message that starts with [CLS]; the [CLS] output feeds an
intent head and every word position feeds a slot-tag head (O / PLOT / DAY / CROP).
Messages have different lengths and are right padded per batch.
"""
import os
import random
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

random.seed(7)
mx.random.seed(7)

INTENTS = ["book_plot", "cancel_plot", "ask_water", "report_pest"]
TAGS = ["O", "PLOT", "DAY", "CROP"]
PLOTS = [f"plot{i}" for i in range(1, 31)]
DAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
CROPS = ["beans", "leeks", "onions", "kale", "potatoes", "marrows", "carrots", "peas"]
FILLER = ["please", "thanks", "hi", "all", "cheers", "again", "today", "folks"]

TEMPLATES = {
    "book_plot": [
        "can i have {PLOT} from {DAY}",
        "i would like {PLOT} for {CROP}",
        "put me down for {PLOT} on {DAY} to grow {CROP}",
        "is {PLOT} free from {DAY}",
    ],
    "cancel_plot": [
        "i am giving up {PLOT}",
        "please release {PLOT} after {DAY}",
        "no longer need {PLOT} the {CROP} are out",
        "hand back {PLOT} on {DAY}",
    ],
    "ask_water": [
        "is the tap on at {PLOT} on {DAY}",
        "when is the water back near {PLOT}",
        "no water for my {CROP} since {DAY}",
        "is the trough by {PLOT} full",
    ],
    "report_pest": [
        "slugs on my {CROP} at {PLOT}",
        "rabbits ate the {CROP} on {DAY}",
        "blight on {CROP} near {PLOT} since {DAY}",
        "aphids all over the {CROP}",
    ],
}
SLOT_VALUES = {"PLOT": PLOTS, "DAY": DAYS, "CROP": CROPS}

words = set(FILLER) | set(PLOTS) | set(DAYS) | set(CROPS)
for ts in TEMPLATES.values():
    for t in ts:
        words |= {w for w in t.split() if not w.startswith("{")}
VOCAB = ["[PAD]", "[CLS]"] + sorted(words)
W2I = {w: i for i, w in enumerate(VOCAB)}
PAD, CLS = 0, 1


def make_message(intent):
    toks, tags = [], []
    if random.random() < 0.4:
        toks.append(random.choice(FILLER[:4]))
        tags.append(0)
    for w in random.choice(TEMPLATES[intent]).split():
        if w.startswith("{"):
            slot = w[1:-1]
            toks.append(random.choice(SLOT_VALUES[slot]))
            tags.append(TAGS.index(slot))
        else:
            toks.append(w)
            tags.append(0)
    if random.random() < 0.4:
        toks.append(random.choice(FILLER[4:]))
        tags.append(0)
    return toks, tags


def make_split(n, label_slip):
    data = []
    for _ in range(n):
        k = random.randrange(len(INTENTS))
        toks, tags = make_message(INTENTS[k])
        if random.random() < label_slip:  # volunteers sometimes file a note under another heading
            k = random.randrange(len(INTENTS))
        data.append(([W2I[t] for t in toks], tags, k))
    return data


def collate(batch):
    L = 1 + max(len(ids) for ids, _, _ in batch)
    ids = [[CLS] + x + [PAD] * (L - 1 - len(x)) for x, _, _ in batch]
    tags = [[0] + t + [0] * (L - 1 - len(t)) for _, t, _ in batch]
    word = [[0] + [1] * len(x) + [0] * (L - 1 - len(x)) for x, _, _ in batch]
    return (mx.array(ids), mx.array(tags), mx.array(word, dtype=mx.float32),
            mx.array([k for _, _, k in batch]))


class Encoder(nn.Module):
    def __init__(self, vocab, dim=48, heads=4, max_len=16):
        super().__init__()
        self.tok = nn.Embedding(vocab, dim)
        self.pos = nn.Embedding(max_len, dim)
        self.ln1 = nn.LayerNorm(dim)
        self.attn = nn.MultiHeadAttention(dim, heads)
        self.ln2 = nn.LayerNorm(dim)
        self.ff = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))
        self.ln_out = nn.LayerNorm(dim)
        self.intent_head = nn.Linear(dim, len(INTENTS))
        self.tag_head = nn.Linear(dim, len(TAGS))

    def __call__(self, ids):
        L = ids.shape[1]
        h = self.tok(ids) + self.pos(mx.arange(L))
        key_ok = (ids != PAD)[:, None, None, :]
        bias = mx.where(key_ok, 0.0, -1e9).astype(h.dtype)
        x = self.ln1(h)
        h = h + self.attn(x, x, x, mask=bias)
        h = h + self.ff(self.ln2(h))
        h = self.ln_out(h)
        return self.intent_head(h[:, 0]), self.tag_head(h)


def loss_fn(model, ids, tags, word, intent):
    il, tl = model(ids)
    l_int = nn.losses.cross_entropy(il, intent, reduction="mean")
    l_tag = (nn.losses.cross_entropy(tl, tags) * word).sum() / word.sum()
    return l_int + l_tag, (l_int, l_tag)


def evaluate(model, data, bs=256):
    tot = mx.zeros((6,))
    for s in range(0, len(data), bs):
        ids, tags, word, intent = collate(data[s:s + bs])
        il, tl = model(ids)
        hit = (mx.argmax(tl, -1) == tags).astype(mx.float32) * word
        slot = word * (tags > 0)
        tot = tot + mx.stack([(mx.argmax(il, -1) == intent).sum().astype(mx.float32),
                              mx.array(float(intent.shape[0])), hit.sum(), word.sum(),
                              (hit * slot).sum(), slot.sum()])
    ok_i, n_i, ok_t, n_t, ok_s, n_s = tot.tolist()
    return ok_i / n_i, ok_t / n_t, ok_s / n_s


train = make_split(6000, label_slip=0.06)
valid = make_split(400, label_slip=0.0)
test = make_split(1200, label_slip=0.0)

counts = [sum(1 for _, _, k in train if k == c) for c in range(len(INTENTS))]
maj = max(range(len(INTENTS)), key=lambda c: counts[c])
maj_acc = sum(1 for _, _, k in test if k == maj) / len(test)
o_acc = sum(t.count(0) for _, t, _ in test) / sum(len(t) for _, t, _ in test)
print(f"vocab {len(VOCAB)} | train {len(train)} valid {len(valid)} test {len(test)}")
print(f"baselines on test: majority intent acc {maj_acc:.3f}, all-'O' tag acc {o_acc:.3f}, slot-token acc 0.000")

STEPS, WARM, BS, PEAK, SAVE_AT = 240, 40, 32, 2e-3, 120
schedule = optim.join_schedules(
    [optim.linear_schedule(0.0, PEAK, WARM), optim.cosine_decay(PEAK, STEPS - WARM, 1e-5)], [WARM]
)


def build():
    m = Encoder(len(VOCAB))
    o = optim.AdamW(learning_rate=schedule, weight_decay=0.01)
    return m, o


def train_steps(model, opt, start, stop):
    step_fn = nn.value_and_grad(model, loss_fn)
    run = []
    for step in range(start, stop):
        batch = random.sample(train, BS)
        (loss, (li, lt)), g = step_fn(model, *collate(batch))
        g, _ = optim.clip_grad_norm(g, 1.0)
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        run.append(mx.stack([loss, li, lt]))
        if (step + 1) % 30 == 0:
            a, b, c = mx.mean(mx.stack(run), axis=0).tolist()
            vi, vt, vs = evaluate(model, valid)
            print(f"step {step + 1:4d} lr {opt.learning_rate.item():.2e} loss {a:.4f} "
                  f"(intent {b:.4f} tags {c:.4f}) | valid intent {vi:.3f} tag {vt:.3f} slot {vs:.3f}")
            run = []


t0 = time.time()
model, opt = build()
mx.eval(model.parameters())
before = evaluate(model, test)
print(f"untrained: intent {before[0]:.3f} tag {before[1]:.3f} slot {before[2]:.3f}")
train_steps(model, opt, 0, SAVE_AT)

ckdir = tempfile.mkdtemp()
model.save_weights(os.path.join(ckdir, "model.safetensors"))
mx.save_safetensors(os.path.join(ckdir, "optim.safetensors"), dict(tree_flatten(opt.state)))
rng_state = random.getstate()
print(f"checkpoint written at step {SAVE_AT} -> {ckdir}")
del model, opt

model, opt = build()
model.load_weights(os.path.join(ckdir, "model.safetensors"))
opt.state = tree_unflatten(list(mx.load(os.path.join(ckdir, "optim.safetensors")).items()))
random.setstate(rng_state)
mx.eval(model.parameters(), opt.state)
print(f"resumed at optimizer step {opt.state['step'].item()} lr {opt.learning_rate.item():.2e}")
print(f"resumed check: {evaluate(model, valid)[0]:.3f} valid intent acc")
train_steps(model, opt, SAVE_AT, STEPS)

ti, tt, ts = evaluate(model, test)
print(f"test: intent acc {ti:.3f} (majority {maj_acc:.3f}) | tag acc {tt:.3f} (all-O {o_acc:.3f}) | slot-token acc {ts:.3f}")
print(f"train label slips 6% -> intent train loss cannot reach 0; done in {time.time() - t0:.1f}s")
