"""Mountain refuge logbook language model.

Stage A: a one-block causal transformer language model is pretrained on warden log lines
(weather, arrivals, departures, water, stove) pooled over all refuges.
Stage B: three refuge tags are added to the vocabulary. The embedding table
and the output head each get three extra rows; only those new rows are
trained (gradient row mask, transformer block frozen), so the pretrained rows stay put.
Monitoring lines are written in Nagios plugin format.
"""
import math
import random
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

random.seed(7)
np.random.seed(7)
mx.random.seed(7)

BASE = ["<pad>", "<bos>", "<eos>",
        "wind", "calm", "breeze", "gale",
        "sky", "clear", "cloud", "fog", "rain", "snow",
        "arrivals", "departures",
        "0", "1", "2", "3", "4", "5", "6", "7", "8", "9",
        "water", "tank", "full", "half", "low",
        "stove", "lit", "out", "wood", "stacked", "short"]
TAGS = ["<refuge:col>", "<refuge:ridge>", "<refuge:lake>"]

REFUGE = {
    "col":   {"wind": [0.55, 0.35, 0.10], "sky": [0.60, 0.25, 0.05, 0.05, 0.05],
              "guests": (4, 9), "water": [0.6, 0.3, 0.1]},
    "ridge": {"wind": [0.05, 0.25, 0.70], "sky": [0.10, 0.25, 0.05, 0.10, 0.50],
              "guests": (0, 4), "water": [0.2, 0.3, 0.5]},
    "lake":  {"wind": [0.40, 0.50, 0.10], "sky": [0.05, 0.20, 0.45, 0.25, 0.05],
              "guests": (2, 7), "water": [0.8, 0.15, 0.05]},
}
WIND = ["calm", "breeze", "gale"]
SKY = ["clear", "cloud", "fog", "rain", "snow"]
WATER = ["full", "half", "low"]
SEQ = 16


def pick(options, probs):
    return options[np.random.choice(len(options), p=probs)]


def log_line(refuge):
    r = REFUGE[refuge]
    lo, hi = r["guests"]
    arr = random.randint(lo, hi)
    dep = random.randint(max(0, arr - 3), min(9, arr + 1))
    stove = "lit" if r["wind"][2] > 0.3 or random.random() < 0.3 else "out"
    wood = "short" if stove == "lit" and random.random() < 0.4 else "stacked"
    return ["wind", pick(WIND, r["wind"]), "sky", pick(SKY, r["sky"]),
            "arrivals", str(arr), "departures", str(dep),
            "water", "tank", pick(WATER, r["water"]),
            "stove", stove, "wood", wood]


def encode(lines, vocab, tagged):
    rows = []
    for refuge, words in lines:
        toks = [f"<refuge:{refuge}>" if tagged else "<bos>"] + words + ["<eos>"]
        ids = [vocab[t] for t in toks]
        ids = ids + [vocab["<pad>"]] * (SEQ + 1 - len(ids))
        rows.append(ids[: SEQ + 1])
    return np.array(rows, dtype=np.int32)


def sample_lines(n):
    names = list(REFUGE)
    return [(r, log_line(r)) for r in (random.choice(names) for _ in range(n))]


class LogLM(nn.Module):
    def __init__(self, vocab, dims=32, heads=4):
        super().__init__()
        self.embed = nn.Embedding(vocab, dims)
        self.body = Block(dims, heads)
        self.head = nn.Linear(dims, vocab)

    def __call__(self, x):
        return self.head(self.body(self.embed(x)))


class Block(nn.Module):
    def __init__(self, dims, heads):
        super().__init__()
        self.pos = nn.Embedding(SEQ, dims)
        self.ln1 = nn.LayerNorm(dims)
        self.attn = nn.MultiHeadAttention(dims, heads)
        self.ln2 = nn.LayerNorm(dims)
        self.mlp = nn.Sequential(nn.Linear(dims, 4 * dims), nn.GELU(), nn.Linear(4 * dims, dims))
        self.ln_f = nn.LayerNorm(dims)

    def __call__(self, h):
        L = h.shape[1]
        h = h + self.pos(mx.arange(L))
        mask = nn.MultiHeadAttention.create_additive_causal_mask(L)
        a = self.ln1(h)
        h = h + self.attn(a, a, a, mask=mask)
        h = h + self.mlp(self.ln2(h))
        return self.ln_f(h)


def token_nll(model, batch):
    x, y = batch[:, :-1], batch[:, 1:]
    logits = model(x)
    nll = nn.losses.cross_entropy(logits, y, reduction="none")
    mask = (y != 0).astype(mx.float32)
    return nll, mask


def loss_fn(model, batch):
    nll, mask = token_nll(model, batch)
    return (nll * mask).sum() / mask.sum()


def warm_cos(peak, warm, total):
    return optim.join_schedules(
        [optim.linear_schedule(0.0, peak, warm), optim.cosine_decay(peak, total - warm, 1e-4)],
        [warm])


def nagios(state, summary, perf):
    perf_s = " ".join(f"{k}={v}" for k, v in perf.items())
    print(f"REFUGE-LM {state} - {summary} | {perf_s}", flush=True)


vocab = {w: i for i, w in enumerate(BASE)}
train_a = encode(sample_lines(4000), vocab, tagged=False)
val_a = encode(sample_lines(300), vocab, tagged=False)

model = LogLM(len(BASE))
mx.eval(model.parameters())
t0 = time.time()
nagios("OK", "stage A start", {"vocab": len(BASE), "lines": len(train_a),
                                "uniform_nll": f"{math.log(len(BASE)):.3f}"})

STEPS_A, BS = 300, 32
opt = optim.Adam(learning_rate=warm_cos(4e-3, 30, STEPS_A))
step_a = nn.value_and_grad(model, loss_fn)
for step in range(STEPS_A + 1):
    idx = np.random.randint(0, len(train_a), BS)
    batch = mx.array(train_a[idx])
    lr_used = opt.learning_rate.item()
    loss, grads = step_a(model, batch)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if step % 75 == 0:
        v = loss_fn(model, mx.array(val_a)).item()
        nagios("OK", f"stage A step {step}", {"lr": f"{lr_used:.2e}", "train_nll": f"{loss.item():.4f}",
                                               "val_nll": f"{v:.4f}", "secs": f"{time.time() - t0:.1f}"})
pooled_val = loss_fn(model, mx.array(val_a)).item()

# ---- stage B: grow the vocabulary by three refuge tags ----
old_v = len(BASE)
for t in TAGS:
    vocab[t] = len(vocab)
new_v = len(vocab)
old_embed = model.embed.weight
old_head_w, old_head_b = model.head.weight, model.head.bias

grown = LogLM(new_v)
grown.body.update(model.body.parameters())
bos_row = old_embed[vocab["<bos>"]][None, :]
noise = 0.01 * mx.random.normal((len(TAGS), old_embed.shape[1]))
grown.embed.weight = mx.concatenate([old_embed, bos_row + noise], axis=0)
head_mean = mx.broadcast_to(old_head_w.mean(axis=0, keepdims=True), (len(TAGS), old_head_w.shape[1]))
grown.head.weight = mx.concatenate([old_head_w, head_mean], axis=0)
grown.head.bias = mx.concatenate([old_head_b, mx.full((len(TAGS),), old_head_b.mean().item())], axis=0)
mx.eval(grown.parameters())

grown.freeze()
grown.embed.unfreeze()
grown.head.unfreeze()
row_keep = mx.concatenate([mx.zeros((old_v,)), mx.ones((len(TAGS),))])

lines_b = sample_lines(4000)
train_b = encode(lines_b, vocab, tagged=True)
val_lines = sample_lines(300)
val_b = mx.array(encode(val_lines, vocab, tagged=True))
val_base = mx.array(encode(val_lines, vocab, tagged=False))


FIELDS = [1, 3]  # target positions holding the wind and sky values


def entropy(p):
    return -sum(q * math.log(q) for q in p if q > 0)


def field_floors():
    cond, pooled = 0.0, 0.0
    for key in ("wind", "sky"):
        ps = [REFUGE[r][key] for r in REFUGE]
        cond += sum(entropy(p) for p in ps) / len(ps)
        pooled += entropy([sum(col) / len(ps) for col in zip(*ps)])
    return cond / 2, pooled / 2


def split_nll(m, batch):
    nll, mask = token_nll(m, batch)
    body = ((nll * mask).sum() / mask.sum()).item()
    field = nll[:, FIELDS].mean().item()
    return field, body


def row_spread(m):
    rows = m.embed.weight[old_v:]
    return mx.abs(rows - rows.mean(axis=0)).mean().item()


cond_floor, pooled_floor = field_floors()
ref_field, ref_body = split_nll(model, val_base)
field0, body0 = split_nll(grown, val_b)
n_train = sum(v.size for _, v in nn.utils.tree_flatten(grown.trainable_parameters()))
nagios("WARNING", f"stage B start, {len(TAGS)} new vocabulary rows are near-copies of <bos> (spread {row_spread(grown):.4f})",
       {"vocab": new_v, "trainable_values": n_train, "field_nll": f"{field0:.4f}", "body_nll": f"{body0:.4f}",
        "untagged_field_nll": f"{ref_field:.4f}", "untagged_body_nll": f"{ref_body:.4f}",
        "field_H_marginal": f"{pooled_floor:.4f}", "field_H_given_refuge": f"{cond_floor:.4f}"})


def mask_rows(grads):
    grads["embed"]["weight"] = grads["embed"]["weight"] * row_keep[:, None]
    grads["head"]["weight"] = grads["head"]["weight"] * row_keep[:, None]
    grads["head"]["bias"] = grads["head"]["bias"] * row_keep
    return grads


STEPS_B = 200
opt_b = optim.Adam(learning_rate=warm_cos(2e-2, 20, STEPS_B))
step_b = nn.value_and_grad(grown, loss_fn)
for step in range(STEPS_B + 1):
    idx = np.random.randint(0, len(train_b), BS)
    batch = mx.array(train_b[idx])
    lr_used = opt_b.learning_rate.item()
    loss, grads = step_b(grown, batch)
    opt_b.update(grown, mask_rows(grads))
    mx.eval(grown.parameters(), opt_b.state, loss)
    if step % 50 == 0:
        field, body = split_nll(grown, val_b)
        spread = row_spread(grown)
        state = "OK" if spread > 0.05 else "WARNING"
        nagios(state, f"stage B step {step}", {"lr": f"{lr_used:.2e}", "train_nll": f"{loss.item():.4f}",
                                                "field_nll": f"{field:.4f}", "body_nll": f"{body:.4f}",
                                                "untagged_field_nll": f"{ref_field:.4f}",
                                                "row_spread": f"{spread:.4f}", "secs": f"{time.time() - t0:.1f}"})

drift_embed = mx.abs(grown.embed.weight[:old_v] - old_embed).max().item()
drift_head = mx.abs(grown.head.weight[:old_v] - old_head_w).max().item()
field1, body1 = split_nll(grown, val_b)
nagios("OK", "done", {"old_row_drift_embed": f"{drift_embed:.1e}", "old_row_drift_head": f"{drift_head:.1e}",
                      "row_spread": f"{row_spread(grown):.4f}", "field_nll": f"{field1:.4f}",
                      "untagged_field_nll": f"{ref_field:.4f}", "field_H_given_refuge": f"{cond_floor:.4f}",
                      "field_H_marginal": f"{pooled_floor:.4f}", "body_nll": f"{body1:.4f}",
                      "untagged_body_nll": f"{ref_body:.4f}", "pooled_val_nll": f"{pooled_val:.4f}"})
