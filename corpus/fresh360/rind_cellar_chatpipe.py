"""Cheese-cellar assistant: a three-stage small chat pipeline (base -> mid -> sft).

Stage base: pretrain on cellar diary documents, BOS-aligned best-fit packing.
Stage mid : same packing, diary documents mixed with chat transcripts.
Stage sft : one conversation per row, loss on assistant tokens only.
Each stage starts from the previous stage's checkpoint on disk.
The run log is written as SQL so it can be piped into sqlite3.
"""
import json
import math
import os
import random
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

SEED = 11
random.seed(SEED)
mx.random.seed(SEED)

# ---------------- tokenizer: bytes of a small alphabet + reserved specials ----
SPECIALS = ["<|bos|>", "<|user_start|>", "<|user_end|>", "<|assistant_start|>", "<|assistant_end|>"]
ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789 .,:;?\n"
stoi = {s: i for i, s in enumerate(SPECIALS)}
for ch in ALPHABET:
    stoi[ch] = len(stoi)
itos = {i: s for s, i in stoi.items()}
VOCAB = len(stoi)
BOS, USR0, USR1, AST0, AST1 = (stoi[s] for s in SPECIALS)


def encode(text):
    return [stoi[c] for c in text]


def decode(ids):
    return "".join(itos[i] if i >= len(SPECIALS) else "" for i in ids)


# ---------------- synthetic cellar world --------------------------------------
CONS, VOW = "bcdfglmnprstvz", "aeiou"


def cheese_name():
    n = random.choice([1, 2])
    return "".join(random.choice(CONS) + random.choice(VOW) for _ in range(n)) + random.choice(CONS)


def cave_of(name):
    return (ord(name[-1]) - 97) % 6 + 1


names = sorted({cheese_name() for _ in range(900)})
random.shuffle(names)
held_names, train_names = names[:60], names[60:]


def diary_doc(pool):
    lines = []
    for _ in range(random.randint(1, 2)):
        nm = random.choice(pool)
        day = random.randint(1, 28)
        hum = random.randint(85, 97)
        lines.append(f"{nm}: cave {cave_of(nm)}, turned day {day}, humidity {hum}.\n")
    return [BOS] + encode("".join(lines))


ASKS = ["cave for {n}?"]


def chat_doc(nm, style):
    q = random.choice(ASKS).format(n=nm)
    if style == "mid":
        a = f"{nm} ripens in cave {cave_of(nm)}."
    else:
        a = f"cave {cave_of(nm)}."
    prompt = [BOS, USR0] + encode(q) + [USR1, AST0]
    answer = encode(a) + [AST1]
    return prompt, answer


# ---------------- BOS-aligned best-fit packing --------------------------------
T = 48


def bestfit_rows(doc_fn, n_rows, buffer_size=12):
    rows, buf = [], [doc_fn() for _ in range(buffer_size)]
    for _ in range(n_rows):
        row = []
        while len(row) < T + 1:
            space = T + 1 - len(row)
            fits = [d for d in buf if len(d) <= space]
            if fits:
                d = max(fits, key=len)
                buf.remove(d)
                row.extend(d)
            else:
                d = min(buf, key=len)
                buf.remove(d)
                row.extend(d[:space])
            buf.append(doc_fn())
        rows.append(row)
    return mx.array(rows, dtype=mx.int32)


# ---------------- model: rope + relu^2 + rmsnorm + logit softcap --------------
class Block(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.n1 = nn.RMSNorm(d)
        self.qkv = nn.Linear(d, 3 * d, bias=False)
        self.proj = nn.Linear(d, d, bias=False)
        self.rope = nn.RoPE(d // heads)
        self.n2 = nn.RMSNorm(d)
        self.fc = nn.Linear(d, 4 * d, bias=False)
        self.out = nn.Linear(4 * d, d, bias=False)

    def __call__(self, x, mask):
        B, L, D = x.shape
        q, k, v = mx.split(self.qkv(self.n1(x)), 3, axis=-1)
        sh = lambda t: t.reshape(B, L, self.heads, -1).transpose(0, 2, 1, 3)
        q, k, v = self.rope(sh(q)), self.rope(sh(k)), sh(v)
        a = mx.fast.scaled_dot_product_attention(q, k, v, scale=(D // self.heads) ** -0.5, mask=mask)
        x = x + self.proj(a.transpose(0, 2, 1, 3).reshape(B, L, D))
        h = nn.relu(self.fc(self.n2(x)))
        return x + self.out(h * h)


class TinyChat(nn.Module):
    def __init__(self, d=48, layers=2, heads=4):
        super().__init__()
        self.wte = nn.Embedding(VOCAB, d)
        self.blocks = [Block(d, heads) for _ in range(layers)]
        self.norm = nn.RMSNorm(d)
        self.lm_head = nn.Linear(d, VOCAB, bias=False)

    def __call__(self, idx):
        L = idx.shape[1]
        mask = nn.MultiHeadAttention.create_additive_causal_mask(L)
        x = self.wte(idx)
        for b in self.blocks:
            x = b(x, mask)
        logits = self.lm_head(self.norm(x))
        return 15.0 * mx.tanh(logits / 15.0)


def masked_ce(model, inp, tgt):
    logits = model(inp)
    valid = tgt >= 0
    ce = nn.losses.cross_entropy(logits, mx.maximum(tgt, 0), reduction="none")
    return (ce * valid).sum() / mx.maximum(valid.sum(), 1)


def make_opt():
    base = 3e-3
    opt = optim.Adam(learning_rate=base)
    return opt, [opt], [base]


def set_lrm(opts, bases, m):
    for o, b in zip(opts, bases):
        o.learning_rate = b * m


# ---------------- evaluation --------------------------------------------------
val_docs = [diary_doc(held_names) for _ in range(40)]
val_bytes = sum(len(d) - 1 for d in val_docs)


def pad_batch(seqs, n_prompt):
    """Right-pad whole sequences; targets are -1 outside the scored span."""
    L = max(len(q) for q in seqs) - 1
    inp, tgt = [], []
    for q, k in zip(seqs, n_prompt):
        x, y = q[:-1], q[1:]
        y = [-1] * (k - 1) + y[k - 1:]
        inp.append(x + [BOS] * (L - len(x)))
        tgt.append(y + [-1] * (L - len(y)))
    return mx.array(inp), mx.array(tgt)


val_inp, val_tgt = pad_batch(val_docs, [1] * len(val_docs))


def val_bpb(model):
    ce = nn.losses.cross_entropy(model(val_inp), mx.maximum(val_tgt, 0), reduction="none")
    nats = (ce * (val_tgt >= 0)).sum().item()
    return nats / (math.log(2) * val_bytes)


def unigram_bpb():
    counts = [1] * VOCAB
    for _ in range(300):
        for t in diary_doc(train_names)[1:]:
            counts[t] += 1
    tot = sum(counts)
    nats = sum(-math.log(counts[t] / tot) for d in val_docs for t in d[1:])
    return nats / (math.log(2) * val_bytes)


held_chats = [chat_doc(nm, "sft") for nm in held_names]


chat_inp, chat_tgt = pad_batch([p + a for p, a in held_chats], [len(p) for p, _ in held_chats])


def chat_eval(model):
    """Answer NLL and greedy exact-match (teacher-forced argmax equals greedy decoding
    whenever every earlier answer token was already right)."""
    logits = model(chat_inp)
    valid = chat_tgt >= 0
    ce = nn.losses.cross_entropy(logits, mx.maximum(chat_tgt, 0), reduction="none")
    nll = ((ce * valid).sum() / valid.sum()).item()
    right = mx.logical_or(mx.argmax(logits, axis=-1) == chat_tgt, mx.logical_not(valid))
    exact = mx.all(right, axis=1).astype(mx.float32).mean().item()
    return nll, 100.0 * exact


# ---------------- SQL log -----------------------------------------------------
def sql(table, **kv):
    cols = ", ".join(kv)
    vals = ", ".join("NULL" if v is None else (f"'{v}'" if isinstance(v, str) else f"{v:.6g}") for v in kv.values())
    print(f"INSERT INTO {table} ({cols}) VALUES ({vals});", flush=True)


print("BEGIN TRANSACTION;")
print("CREATE TABLE step_log (stage TEXT, step INT, lrm REAL, loss REAL, tok_s REAL);")
print("CREATE TABLE stage_eval (stage TEXT, val_bpb REAL, chat_nll REAL, exact_pct REAL);")
print("CREATE TABLE reference (name TEXT, value REAL);")
majority = max(range(1, 7), key=lambda c: sum(cave_of(n) == c for n in train_names))
sql("reference", name="unigram_val_bpb", value=unigram_bpb())
sql("reference", name="majority_cave_exact_pct",
    value=100.0 * sum(cave_of(n) == majority for n in held_names) / len(held_names))
sql("reference", name="uniform_chat_nll", value=math.log(VOCAB))

ckdir = tempfile.mkdtemp()


def run_stage(stage, steps, batch_fn, warmup, warmdown_frac, init_path, lr_frac=1.0):
    model = TinyChat()
    if init_path is not None:
        model.load_weights(init_path)
    mx.eval(model.parameters())
    opt, opts, bases = make_opt()
    loss_grad = nn.value_and_grad(model, masked_ce)
    if init_path is None:
        bpb, cn, ex = val_bpb(model), *chat_eval(model)
        sql("stage_eval", stage="init", val_bpb=bpb, chat_nll=cn, exact_pct=ex)
    t0, ntok = time.time(), 0
    for step in range(steps):
        if step < warmup:
            lrm = step / warmup
        elif step >= steps * (1 - warmdown_frac):
            lrm = (steps - 1 - step) / (steps * warmdown_frac - 1)
        else:
            lrm = 1.0
        set_lrm(opts, bases, lrm * lr_frac)
        inp, tgt = batch_fn()
        loss, grads = loss_grad(model, inp, tgt)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        ntok += int((tgt >= 0).sum().item())
        if step % 40 == 0 or step == steps - 1:
            sql("step_log", stage=stage, step=step, lrm=lrm, loss=loss.item(), tok_s=ntok / (time.time() - t0))
    bpb, cn, ex = val_bpb(model), *chat_eval(model)
    sql("stage_eval", stage=stage, val_bpb=bpb, chat_nll=cn, exact_pct=ex)
    path = os.path.join(ckdir, f"{stage}.safetensors")
    model.save_weights(path)
    with open(os.path.join(ckdir, f"{stage}_meta.json"), "w") as f:
        json.dump({"stage": stage, "steps": steps, "params": sum(v.size for _, v in tree_flatten(model.parameters()))}, f)
    return path


def base_batch():
    rows = bestfit_rows(lambda: diary_doc(train_names), 8)
    return rows[:, :-1], rows[:, 1:]


def mid_doc():
    if random.random() < 0.5:
        return diary_doc(train_names)
    p, a = chat_doc(random.choice(train_names), "mid")
    return p + a


def mid_batch():
    rows = bestfit_rows(mid_doc, 8)
    return rows[:, :-1], rows[:, 1:]


def sft_batch():
    convs = [chat_doc(random.choice(train_names), "sft") for _ in range(8)]
    L = max(len(p) + len(a) for p, a in convs)
    inp, tgt = [], []
    for p, a in convs:
        seq = p + a
        x = seq[:-1] + [BOS] * (L - len(seq))
        y = [-1] * (len(p) - 1) + a + [-1] * (L - len(seq))
        inp.append(x)
        tgt.append(y)
    return mx.array(inp), mx.array(tgt)


p_base = run_stage("base", 200, base_batch, warmup=20, warmdown_frac=0.3, init_path=None)
p_mid = run_stage("mid", 80, mid_batch, warmup=0, warmdown_frac=0.25, init_path=p_base)
p_sft = run_stage("sft", 160, sft_batch, warmup=0, warmdown_frac=0.5, init_path=p_mid, lr_frac=0.3)
print("COMMIT;")
