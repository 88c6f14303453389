import json
import math
import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

BELLS = 5
SEP = BELLS
VOCAB = BELLS + 1
ROWS = 4
SEQ = ROWS * (BELLS + 1)
D = 32
HEADS = 4

rng = np.random.default_rng(7)


def hunt_rows(start, first_swap):
    rows = [list(start)]
    swap = first_swap
    for _ in range(ROWS - 1):
        r = list(rows[-1])
        for i in range(swap, BELLS - 1, 2):
            r[i], r[i + 1] = r[i + 1], r[i]
        rows.append(r)
        swap = 1 - swap
    return rows


def make_batch(n, first_swap):
    out = np.empty((n, SEQ), dtype=np.int32)
    for j in range(n):
        rows = hunt_rows(rng.permutation(BELLS), first_swap)
        toks = []
        for r in rows:
            toks.extend(r)
            toks.append(SEP)
        out[j] = toks
    return mx.array(out)


def attend(q, k, v, mask):
    b, t, _ = q.shape
    q = q.reshape(b, t, HEADS, -1).transpose(0, 2, 1, 3)
    k = k.reshape(b, t, HEADS, -1).transpose(0, 2, 1, 3)
    v = v.reshape(b, t, HEADS, -1).transpose(0, 2, 1, 3)
    o = mx.fast.scaled_dot_product_attention(q, k, v, scale=1.0 / math.sqrt(D // HEADS), mask=mask)
    return o.transpose(0, 2, 1, 3).reshape(b, t, D)


class VendorBlock(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln1 = nn.LayerNorm(D)
        self.qkv = nn.Linear(D, 3 * D)
        self.proj = nn.Linear(D, D)
        self.ln2 = nn.LayerNorm(D)
        self.fc_in = nn.Linear(D, 4 * D)
        self.fc_out = nn.Linear(4 * D, D)

    def __call__(self, x, mask):
        q, k, v = mx.split(self.qkv(self.ln1(x)), 3, axis=-1)
        x = x + self.proj(attend(q, k, v, mask))
        return x + self.fc_out(nn.gelu(self.fc_in(self.ln2(x))))


class LocalBlock(nn.Module):
    def __init__(self):
        super().__init__()
        self.attn_norm = nn.LayerNorm(D)
        self.q_proj = nn.Linear(D, D)
        self.k_proj = nn.Linear(D, D)
        self.v_proj = nn.Linear(D, D)
        self.o_proj = nn.Linear(D, D)
        self.mlp_norm = nn.LayerNorm(D)
        self.up = nn.Linear(D, 4 * D)
        self.down = nn.Linear(4 * D, D)

    def __call__(self, x, mask):
        h = self.attn_norm(x)
        x = x + self.o_proj(attend(self.q_proj(h), self.k_proj(h), self.v_proj(h), mask))
        return x + self.down(nn.gelu(self.up(self.mlp_norm(x))))


class BellLM(nn.Module):
    def __init__(self, block_cls):
        super().__init__()
        self.tok = nn.Embedding(VOCAB, D)
        self.pos = nn.Embedding(SEQ, D)
        self.blocks = [block_cls()]
        self.norm = nn.LayerNorm(D)
        self.head = nn.Linear(D, VOCAB)

    def __call__(self, x):
        t = x.shape[1]
        h = self.tok(x) + self.pos(mx.arange(t))
        mask = nn.MultiHeadAttention.create_additive_causal_mask(t)
        for blk in self.blocks:
            h = blk(h, mask)
        return self.head(self.norm(h))


def lm_loss(model, x):
    logits = model(x[:, :-1])
    return nn.losses.cross_entropy(logits, x[:, 1:], reduction="mean")


def emit(doc):
    print("---")
    for k, v in doc.items():
        print(f"{k}: {v}")


def train(model, opt, first_swap, steps, every, tag, lr_fn):
    step_fn = nn.value_and_grad(model, lm_loss)
    window = []
    for s in range(1, steps + 1):
        x = make_batch(32, first_swap)
        loss, grads = step_fn(model, x)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        window.append(loss.item())
        if s % every == 0 or s == 1:
            emit({"stage": tag, "step": s, "lr": f"{lr_fn(s - 1):.2e}",
                  "train_ce_nats": f"{np.mean(window):.4f}",
                  "val_ce_nats": f"{lm_loss(model, VAL[first_swap]).item():.4f}"})
            window = []


t0 = time.time()
VAL = {0: make_batch(256, 0), 1: make_batch(256, 1)}
emit({"event": "data", "vocab": VOCAB, "seq_len": SEQ,
      "uniform_ce_nats": f"{math.log(VOCAB):.4f}",
      "entropy_floor_nats": f"{math.log(math.factorial(BELLS - 1)) / (SEQ - 1):.4f}"})

# part 1: the vendor trains its fused-qkv model and publishes a sharded bf16 checkpoint
mx.random.seed(1)
vendor = BellLM(VendorBlock)
v_opt = optim.Adam(learning_rate=3e-3)
train(vendor, v_opt, 0, 200, 50, "vendor", lambda s: 3e-3)

outdir = tempfile.mkdtemp()
flat = {"transformer." + k: v.astype(mx.bfloat16) for k, v in tree_flatten(vendor.parameters())}
names = sorted(flat)
shards = [names[: len(names) // 2], names[len(names) // 2:]]
weight_map = {}
for i, part in enumerate(shards):
    fname = f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors"
    mx.save_safetensors(os.path.join(outdir, fname), {k: flat[k] for k in part}, metadata={"format": "mlx"})
    weight_map.update({k: fname for k in part})
with open(os.path.join(outdir, "model.safetensors.index.json"), "w") as f:
    json.dump({"metadata": {"total_size": int(sum(v.nbytes for v in flat.values()))}, "weight_map": weight_map}, f)
emit({"event": "published", "shards": len(shards), "tensors": len(flat), "dtype": "bfloat16"})

# part 2: convert into the local layout (separate q/k/v, renamed modules, float32)
RENAME = {"ln1": "attn_norm", "proj": "o_proj", "ln2": "mlp_norm", "fc_in": "up", "fc_out": "down"}
with open(os.path.join(outdir, "model.safetensors.index.json")) as f:
    index = json.load(f)
raw = {}
for fname in sorted(set(index["weight_map"].values())):
    raw.update(mx.load(os.path.join(outdir, fname)))
converted = []
for key, val in raw.items():
    key = key[len("transformer."):]
    val = val.astype(mx.float32)
    parts = key.split(".")
    if parts[0] == "blocks":
        mod = parts[2]
        if mod == "qkv":
            for name, piece in zip(("q_proj", "k_proj", "v_proj"), mx.split(val, 3, axis=0)):
                converted.append((".".join(parts[:2] + [name, parts[3]]), piece))
            continue
        parts[2] = RENAME[mod]
    converted.append((".".join(parts), val))

mx.random.seed(99)
local = BellLM(LocalBlock)
local.load_weights(converted, strict=True)
mx.eval(local.parameters())
xv = VAL[0][:64, :-1]
diff = mx.abs(local(xv) - vendor(xv)).max().item()
emit({"event": "converted", "tensors_in": len(raw), "tensors_out": len(converted),
      "max_logit_diff_vs_vendor": f"{diff:.2e}",
      "val_ce_vendor": f"{lm_loss(vendor, VAL[0]).item():.4f}",
      "val_ce_local": f"{lm_loss(local, VAL[0]).item():.4f}",
      "val_ce_local_other_method": f"{lm_loss(local, VAL[1]).item():.4f}"})

# part 3: fine-tune the converted model on the other hunt direction, warm-up from exactly 0
warm = optim.linear_schedule(0.0, 2e-3, 50)
sched = optim.join_schedules([warm, optim.cosine_decay(2e-3, 150, 1e-5)], [50])
l_opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)
train(local, l_opt, 1, 200, 40, "local", sched)
emit({"event": "done",
      "val_ce_method_A": f"{lm_loss(local, VAL[0]).item():.4f}",
      "val_ce_method_B": f"{lm_loss(local, VAL[1]).item():.4f}",
      "param_dtype": str(local.head.weight.dtype), "secs": f"{time.time() - t0:.1f}"})
