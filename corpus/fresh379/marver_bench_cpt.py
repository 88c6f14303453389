"""Continued pretraining of a small char LM on a glass studio's bench notes.

Stage 1 fits the model on the furnace log (old domain). Stage 2 follows the
Unsloth continued-pretraining recipe: the base is frozen, LoRA adapters go on
the attention and MLP projections, and the input embedding and the output head
are trained too, with their own (10x smaller) learning rate. Batches are
length-grouped like HF group_by_length, and the best adapter state by eval loss
is restored at the end (load_best_model_at_end).
"""

import math
import random

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_map

SEED = 7
random.seed(SEED)
np.random.seed(SEED)
mx.random.seed(SEED)

# ----------------------------------------------------------------- corpora
COLOURS = ["amber", "cobalt", "clear", "ruby", "teal", "smoke"]


def furnace_line(rng):
    n = rng.randint(1, 4)
    t = rng.choice([1080, 1100, 1120, 1140])
    st = rng.choice(["ok", "hold", "low", "ok"])
    return f"kiln {n} temp {t} {st}. "


def bench_line(rng):
    # New notation: '#' gather count, '@' seconds at the glory hole, '%' reheats.
    c = rng.choice(COLOURS)
    g = rng.randint(1, 3)
    s = rng.choice([12, 14, 18, 22])
    r = rng.randint(1, 4)
    tail = rng.choice(["", " marver", " jack", " block marver"])
    return f"{c} #{g} @{s}s %{r}{tail}. "


def make_lines(fn, n, rng):
    out = []
    for _ in range(n):
        k = rng.randint(1, 2)
        out.append("".join(fn(rng) for _ in range(k)).strip())
    return out


rng = random.Random(SEED)
furnace_train = make_lines(furnace_line, 600, rng)
furnace_val = make_lines(furnace_line, 60, rng)
bench_train = make_lines(bench_line, 70, rng)
bench_val = make_lines(bench_line, 60, rng)

chars = sorted(set("".join(furnace_train + furnace_val + bench_train + bench_val)))
PAD = 0
BOS = 1
itos = ["<pad>", "<bos>"] + chars
stoi = {c: i for i, c in enumerate(itos)}
V = len(itos)
new_chars = sorted(set("".join(bench_train)) - set("".join(furnace_train)))


def encode(line):
    return [BOS] + [stoi[c] for c in line]


def pad_batch(seqs):
    L = max(len(s) for s in seqs)
    arr = np.full((len(seqs), L), PAD, dtype=np.int32)
    for i, s in enumerate(seqs):
        arr[i, : len(s)] = s
    return mx.array(arr)


def length_grouped_indices(lengths, batch_size, rs):
    """Port of transformers' get_length_grouped_indices."""
    n = len(lengths)
    mega_mult = min(n // (batch_size * 4), 50) or 1
    idx = rs.permutation(n).tolist()
    mega = mega_mult * batch_size
    groups = [idx[i : i + mega] for i in range(0, n, mega)]
    groups = [sorted(g, key=lambda i: lengths[i], reverse=True) for g in groups]
    maxes = [lengths[g[0]] for g in groups]
    top = int(np.argmax(maxes))
    groups[0][0], groups[top][0] = groups[top][0], groups[0][0]
    return [i for g in groups for i in g]


def batches(data, batch_size, rs):
    lengths = [len(s) for s in data]
    order = length_grouped_indices(lengths, batch_size, rs)
    for i in range(0, len(order) - batch_size + 1, batch_size):
        yield pad_batch([data[j] for j in order[i : i + batch_size]])


# ----------------------------------------------------------------- model
class Block(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.norm1 = nn.RMSNorm(d)
        self.q_proj = nn.Linear(d, d, bias=False)
        self.k_proj = nn.Linear(d, d, bias=False)
        self.v_proj = nn.Linear(d, d, bias=False)
        self.o_proj = nn.Linear(d, d, bias=False)
        self.norm2 = nn.RMSNorm(d)
        self.up_proj = nn.Linear(d, 4 * d, bias=False)
        self.down_proj = nn.Linear(4 * d, d, bias=False)
        self.rope = nn.RoPE(d // heads)

    def __call__(self, x, mask):
        B, L, D = x.shape
        h = self.norm1(x)
        q = self.q_proj(h).reshape(B, L, self.heads, -1).transpose(0, 2, 1, 3)
        k = self.k_proj(h).reshape(B, L, self.heads, -1).transpose(0, 2, 1, 3)
        v = self.v_proj(h).reshape(B, L, self.heads, -1).transpose(0, 2, 1, 3)
        q, k = self.rope(q), self.rope(k)
        a = mx.fast.scaled_dot_product_attention(
            q, k, v, scale=q.shape[-1] ** -0.5, mask=mask
        )
        x = x + self.o_proj(a.transpose(0, 2, 1, 3).reshape(B, L, D))
        return x + self.down_proj(nn.gelu(self.up_proj(self.norm2(x))))


class CharLM(nn.Module):
    def __init__(self, vocab, d=32, heads=4, layers=2):
        super().__init__()
        self.embed_tokens = nn.Embedding(vocab, d)
        self.layers = [Block(d, heads) for _ in range(layers)]
        self.norm = nn.RMSNorm(d)
        self.lm_head = nn.Linear(d, vocab, bias=False)

    def __call__(self, tokens):
        L = tokens.shape[1]
        mask = nn.MultiHeadAttention.create_additive_causal_mask(L)
        x = self.embed_tokens(tokens)
        for blk in self.layers:
            x = blk(x, mask)
        return self.lm_head(self.norm(x))


class LoRALinear(nn.Module):
    def __init__(self, base, r=8, alpha=16.0):
        super().__init__()
        out_d, in_d = base.weight.shape
        self.base = base
        self.scale = alpha / r
        bound = 1.0 / math.sqrt(in_d)
        self.lora_a = mx.random.uniform(-bound, bound, (in_d, r))
        self.lora_b = mx.zeros((r, out_d))

    def __call__(self, x):
        return self.base(x) + self.scale * ((x @ self.lora_a) @ self.lora_b)


def loss_fn(model, tokens):
    inp, tgt = tokens[:, :-1], tokens[:, 1:]
    logits = model(inp)
    ce = nn.losses.cross_entropy(logits, tgt, reduction="none")
    m = (tgt != PAD).astype(ce.dtype)
    return (ce * m).sum() / m.sum()


def evaluate(model, data, bs=60):
    tot, cnt = 0.0, 0
    for i in range(0, len(data), bs):
        chunk = data[i : i + bs]
        toks = pad_batch(chunk)
        tgt = toks[:, 1:]
        ntok = int((tgt != PAD).sum().item())
        tot += loss_fn(model, toks).item() * ntok
        cnt += ntok
    return tot / cnt


def global_norm(tree):
    return math.sqrt(sum(float((g * g).sum().item()) for _, g in tree_flatten(tree)))


# ----------------------------------------------------------------- stage 1
enc_ft = [encode(s) for s in furnace_train]
enc_fv = [encode(s) for s in furnace_val]
enc_bt = [encode(s) for s in bench_train]
enc_bv = [encode(s) for s in bench_val]

model = CharLM(V)
mx.eval(model.parameters())
opt1 = optim.AdamW(learning_rate=optim.cosine_decay(4e-3, 160, 4e-4), weight_decay=0.01)
step_fn1 = nn.value_and_grad(model, loss_fn)
rs = np.random.RandomState(SEED)
steps1 = 0
while steps1 < 160:
    for tok in batches(enc_ft, 16, rs):
        loss, grads = step_fn1(model, tok)
        opt1.update(model, grads)
        mx.eval(model.parameters(), opt1.state)
        steps1 += 1
        if steps1 >= 160:
            break
base_furnace = evaluate(model, enc_fv)
base_bench = evaluate(model, enc_bv)
print(f"base fit on furnace log: {steps1} steps | furnace eval_loss {base_furnace:.4f} "
      f"| bench eval_loss {base_bench:.4f} | unseen chars in bench notes: {''.join(new_chars)}")

# ----------------------------------------------------------------- stage 2
model.freeze()
for blk in model.layers:
    for name in ["q_proj", "v_proj", "o_proj", "up_proj", "down_proj"]:
        setattr(blk, name, LoRALinear(getattr(blk, name)))
model.embed_tokens.unfreeze()
model.lm_head.unfreeze()
mx.eval(model.parameters())

n_train = sum(p.size for _, p in tree_flatten(model.trainable_parameters()))
n_all = sum(p.size for _, p in tree_flatten(model.parameters()))
n_embed = model.embed_tokens.weight.size + model.lm_head.weight.size
print(f"Number of trainable parameters = {n_train:,} of {n_all:,} "
      f"(embed_tokens + lm_head = {n_embed:,})")

BS = 10
EPOCHS = 30
steps_per_epoch = len(enc_bt) // BS
TOTAL = EPOCHS * steps_per_epoch
WARM = 30
LR = 4e-3
EMB_LR = LR / 10


def sched(peak):
    return optim.join_schedules(
        [optim.linear_schedule(0.0, peak, WARM),
         optim.cosine_decay(peak, TOTAL - WARM, peak * 0.05)],
        [WARM],
    )


def is_embedding(path, _):
    return path.startswith("embed_tokens") or path.startswith("lm_head")


opt2 = optim.MultiOptimizer(
    [optim.AdamW(learning_rate=sched(EMB_LR), weight_decay=0.0),
     optim.AdamW(learning_rate=sched(LR), weight_decay=0.0)],
    [is_embedding],
)
step_fn2 = nn.value_and_grad(model, loss_fn)

EVAL_EVERY = 21
LOG_EVERY = 7
best = (float("inf"), 0, None)
step = 0
rs2 = np.random.RandomState(SEED + 1)
print(f"***** continued pretraining: {len(enc_bt)} notes, {EPOCHS} epochs, "
      f"batch {BS}, {TOTAL} steps, lr {LR:g}, embedding lr {EMB_LR:g} *****")
for epoch in range(EPOCHS):
    for tok in batches(enc_bt, BS, rs2):
        lr_now = opt2.optimizers[1].learning_rate.item()
        elr_now = opt2.optimizers[0].learning_rate.item()
        loss, grads = step_fn2(model, tok)
        gn = global_norm(grads)
        opt2.update(model, grads)
        mx.eval(model.trainable_parameters(), opt2.state)
        step += 1
        if step == 1 or step % LOG_EVERY == 0:
            print({"loss": round(loss.item(), 4), "grad_norm": round(gn, 4),
                   "learning_rate": lr_now, "embedding_learning_rate": elr_now,
                   "epoch": round(step / steps_per_epoch, 2)})
        if step % EVAL_EVERY == 0:
            ev = evaluate(model, enc_bv)
            old = evaluate(model, enc_fv)
            tag = ""
            if ev < best[0]:
                snap = tree_map(lambda p: mx.array(p), model.trainable_parameters())
                mx.eval(snap)
                best = (ev, step, snap)
                tag = " *"
            print({"eval_loss": round(ev, 4), "furnace_eval_loss": round(old, 4),
                   "step": step}, tag)

last_eval = evaluate(model, enc_bv)
model.update(best[2])
mx.eval(model.parameters())
restored = evaluate(model, enc_bv)
furnace_after = evaluate(model, enc_fv)
print(f"last step {step}: eval_loss {last_eval:.4f}")
print(f"load_best_model_at_end: restored step {best[1]} (eval_loss {best[0]:.4f}) "
      f"-> re-evaluated {restored:.4f}")
print(f"bench eval_loss: base {base_bench:.4f} -> {restored:.4f} | "
      f"furnace eval_loss: base {base_furnace:.4f} -> {furnace_after:.4f}")
