# Character LM over herbarium specimen-label transcriptions.
# Labels have very different lengths, so they are packed end to end into equal
# length rows; each label restarts its position index at 0 and only attends inside
# itself.  Progress is written in Prometheus text exposition format.
import os
import shutil
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(11)
mx.random.seed(11)

GENERA = ["quercus robur", "carex nigra", "salix alba", "juncus effusus", "viola riviniana",
          "poa annua", "rumex acetosa", "luzula campestris", "galium verum", "primula veris",
          "iris pseudacorus", "mentha aquatica"]
COLLECTORS = ["a. berg", "m. holt", "j. k. ives", "r. dunn", "e. sato", "p. varga"]
HABITATS = ["hedge by lane", "wet meadow", "chalk bank", "river shingle", "oak wood edge",
            "ditch", "dune slack", "road verge"]

CHARS = sorted(set("".join(GENERA + COLLECTORS + HABITATS) + "0123456789 -|."))
PAD, BOS, EOS = 0, 1, 2
STOI = {c: i + 3 for i, c in enumerate(CHARS)}
VOCAB = len(CHARS) + 3
ROW = 80
MAX_POS = 80


def label():
    parts = [GENERA[rng.integers(len(GENERA))]]
    if rng.random() < 0.8:
        parts.append(f"{COLLECTORS[rng.integers(len(COLLECTORS))]} {rng.integers(1, 999)}")
    if rng.random() < 0.7:
        parts.append(f"{rng.integers(1950, 2020)}-{rng.integers(1, 13):02d}-{rng.integers(1, 29):02d}")
    if rng.random() < 0.6:
        parts.append(HABITATS[rng.integers(len(HABITATS))])
    return " | ".join(parts)


def encode(s):
    return [BOS] + [STOI[c] for c in s] + [EOS]


def pack(docs):
    """Greedy first-fit packing into ROW-long rows: tokens, per-doc positions, doc ids."""
    rows = []
    cur_t, cur_p, cur_d, did = [], [], [], 0
    for d in docs:
        if len(cur_t) + len(d) > ROW:
            rows.append((cur_t, cur_p, cur_d))
            cur_t, cur_p, cur_d = [], [], []
        cur_t += d
        cur_p += list(range(len(d)))
        cur_d += [did] * len(d)
        did += 1
    rows.append((cur_t, cur_p, cur_d))
    n = len(rows)
    tok = np.full((n, ROW), PAD, np.int32)
    pos = np.zeros((n, ROW), np.int32)
    doc = np.full((n, ROW), -1, np.int32)
    for i, (t, p, d) in enumerate(rows):
        tok[i, : len(t)] = t
        pos[i, : len(p)] = p
        doc[i, : len(d)] = d
    return tok, pos, doc


class Block(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.ln1 = nn.LayerNorm(d)
        self.attn = nn.MultiHeadAttention(d, heads)
        self.ln2 = nn.LayerNorm(d)
        self.ff = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))

    def __call__(self, x, mask):
        h = self.ln1(x)
        x = x + self.attn(h, h, h, mask)
        return x + self.ff(self.ln2(x))


class LabelLM(nn.Module):
    def __init__(self, d=32, heads=2, layers=2):
        super().__init__()
        self.tok = nn.Embedding(VOCAB, d)
        self.pos = nn.Embedding(MAX_POS, d)
        self.blocks = [Block(d, heads) for _ in range(layers)]
        self.ln = nn.LayerNorm(d)
        self.out = nn.Linear(d, VOCAB)

    def __call__(self, tok, pos, doc):
        T = tok.shape[1]
        same = doc[:, :, None] == doc[:, None, :]
        causal = mx.tril(mx.ones((T, T), dtype=mx.bool_))
        allowed = mx.logical_and(same, causal)
        # padding rows (doc -1) still see themselves so no softmax row is empty
        allowed = mx.logical_or(allowed, mx.eye(T, dtype=mx.bool_))
        mask = mx.where(allowed, 0.0, -1e9)[:, None, :, :]
        x = self.tok(tok) + self.pos(pos)
        for b in self.blocks:
            x = b(x, mask)
        return self.out(self.ln(x))


def loss_terms(model, tok, pos, doc):
    logits = model(tok[:, :-1], pos[:, :-1], doc[:, :-1])
    tgt = tok[:, 1:]
    keep = mx.logical_and(doc[:, 1:] == doc[:, :-1], doc[:, 1:] >= 0).astype(mx.float32)
    ce = nn.losses.cross_entropy(logits, tgt, reduction="none")
    return (ce * keep).sum(), keep.sum()


def loss_fn(model, tok, pos, doc):
    s, n = loss_terms(model, tok, pos, doc)
    return s / n


def bits_per_char(model, arrays):
    s, n = loss_terms(model, *arrays)
    return (s / n).item() / np.log(2)


def emit(name, value, **labels):
    lab = ",".join(f'{k}="{v}"' for k, v in labels.items())
    print(f"herbarium_lm_{name}{{{lab}}} {value}")


train_docs = [encode(label()) for _ in range(3000)]
val_docs = [encode(label()) for _ in range(120)]
val = tuple(mx.array(a) for a in pack(val_docs))

counts = np.bincount(np.concatenate([d[1:] for d in train_docs]), minlength=VOCAB) + 1
p = counts / counts.sum()
unigram_bits = float(-(p * np.log2(p)).sum())

print("# HELP herbarium_lm_val_bpc held-out bits per character (lower is better)")
print("# TYPE herbarium_lm_val_bpc gauge")
emit("vocab_size", VOCAB)
emit("train_labels", len(train_docs))
emit("mean_label_chars", round(float(np.mean([len(d) - 2 for d in train_docs])), 1))
emit("unigram_reference_bpc", round(unigram_bits, 4))

TOTAL, SAVE_AT, BATCH = 240, 120, 8
sched = optim.join_schedules([optim.linear_schedule(0.0, 4e-3, 24),
                              optim.cosine_decay(4e-3, TOTAL - 24, 2e-4)], [24])


def make(model):
    opt = optim.AdamW(learning_rate=sched, weight_decay=0.01)
    return opt, nn.value_and_grad(model, loss_fn)


def epoch_rows():
    order = rng.permutation(len(train_docs))
    return pack([train_docs[i] for i in order])


model = LabelLM()
mx.eval(model.parameters())
opt, step_fn = make(model)
emit("val_bpc", round(bits_per_char(model, val), 4), step=0, phase="untrained")

ckpt = tempfile.mkdtemp()
tok_np, pos_np, doc_np = epoch_rows()
cursor = 0
window = []
t0 = time.time()
step = 1
while step <= TOTAL:
    if cursor + BATCH > tok_np.shape[0]:
        tok_np, pos_np, doc_np = epoch_rows()
        cursor = 0
    sl = slice(cursor, cursor + BATCH)
    cursor += BATCH
    lr_now = opt.learning_rate.item() if step > 1 else sched(0).item()
    loss, grads = step_fn(model, mx.array(tok_np[sl]), mx.array(pos_np[sl]), mx.array(doc_np[sl]))
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    window.append(loss.item() / np.log(2))
    if step == 1:
        emit("lr", lr_now, step=1)
        emit("train_bpc", round(window[-1], 4), step=1)
    if step % 40 == 0:
        emit("train_bpc", round(float(np.mean(window)), 4), step=step)
        emit("val_bpc", round(bits_per_char(model, val), 4), step=step)
        emit("lr", f"{opt.learning_rate.item():.6f}", step=step)
        window = []
    if step == SAVE_AT:
        before = bits_per_char(model, val)
        mx.save_safetensors(os.path.join(ckpt, "model.safetensors"), dict(tree_flatten(model.parameters())))
        mx.save_safetensors(os.path.join(ckpt, "opt.safetensors"), dict(tree_flatten(opt.state)))
        del model, opt, step_fn
        model = LabelLM()
        model.load_weights(os.path.join(ckpt, "model.safetensors"))
        opt, step_fn = make(model)
        opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt, "opt.safetensors")).items()))
        after = bits_per_char(model, val)
        emit("resume_val_bpc_delta", f"{after - before:.2e}", step=step)
        emit("resume_opt_step", int(opt.state["step"].item()), step=step)
    step += 1

emit("val_bpc", round(bits_per_char(model, val), 4), step=TOTAL, phase="final")
emit("train_seconds", round(time.time() - t0, 1))
shutil.rmtree(ckpt, ignore_errors=True)
