# Lantern-room signal book: a tiny causal LM over quantized harbour signals gets two LoRA
# adapters (tide gauge, bell buoy) trained one after the other from the same frozen base,
# then the two adapters are merged three ways (average, sum, TIES trim/elect/disjoint-mean)
# and every variant is scored on both signal kinds. Reports are Haskell-style records.
import math
import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

VOCAB, DIM, HEADS, LAYERS, MAX_SEQ, WINDOW = 64, 64, 4, 2, 32, 16
RANK, SCALE = 8, 2.0
ADAPTER_STEPS, WARMUP, PEAK_LR = 300, 30, 3e-3
mx.random.seed(11)
rng = np.random.default_rng(11)


def record(name, **fields):
    parts = []
    for k, v in fields.items():
        if isinstance(v, str):
            parts.append(f'{k} = "{v}"')
        elif isinstance(v, float):
            parts.append(f"{k} = {v:.4g}")
        else:
            parts.append(f"{k} = {v}")
    print(f"{name} {{" + ", ".join(parts) + "}", flush=True)


# ------------------------------------------------------------------ signals
def stream(n, kind):
    start = int(rng.integers(0, VOCAB))
    if kind == "harbor":                      # steady upward drift
        s = int(rng.integers(1, 3))
        return [(start + s * t) % VOCAB for t in range(n)]
    if kind == "bell":                        # falling peal
        s = int(rng.integers(3, 5))
        return [(start - s * t) % VOCAB for t in range(n)]
    s, half = int(rng.integers(2, 4)), int(rng.integers(3, 5))   # tide: rise and fall
    out, v, d = [], start, 1
    for t in range(n):
        out.append(v % VOCAB)
        if t % half == half - 1:
            d = -d
        v += d * s
    return out


def rows(n_streams, kind):
    out = []
    for _ in range(n_streams):
        s = stream(int(rng.integers(24, 80)), kind)
        out += [s[i : i + WINDOW] for i in range(0, len(s), WINDOW) if len(s[i : i + WINDOW]) >= 2]
    return out


def batches(data, bs, seed, epochs=1):
    idx = sorted(range(len(data)), key=lambda i: len(data[i]))
    groups = [idx[i : i + bs] for i in range(0, len(idx) - bs + 1, bs)]
    r = np.random.default_rng(seed)
    for _ in range(epochs):
        for g in r.permutation(len(groups)):
            items = [data[i] for i in groups[g]]
            L = max(len(x) for x in items)
            arr = np.zeros((len(items), L), dtype=np.int32)
            for j, x in enumerate(items):
                arr[j, : len(x)] = x
            yield mx.array(arr), mx.array([len(x) for x in items])


# ------------------------------------------------------------------ model
class LoRALinear(nn.Module):
    def __init__(self, base):
        super().__init__()
        out_d, in_d = base.weight.shape
        self.linear = base
        b = 1.0 / math.sqrt(in_d)
        self.lora_a = mx.random.uniform(-b, b, (in_d, RANK))
        self.lora_b = mx.zeros((RANK, out_d))

    def delta(self):                           # same layout as linear.weight (out, in)
        return (SCALE * (self.lora_a @ self.lora_b)).T

    def __call__(self, x):
        return self.linear(x) + SCALE * ((x @ self.lora_a) @ self.lora_b)


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(DIM), nn.LayerNorm(DIM)
        self.attn = nn.MultiHeadAttention(DIM, HEADS)
        self.up, self.down = nn.Linear(DIM, 4 * DIM), nn.Linear(4 * DIM, DIM)

    def __call__(self, x, mask):
        h = self.ln1(x)
        x = x + self.attn(h, h, h, mask)
        return x + self.down(nn.gelu(self.up(self.ln2(x))))


class TinyLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.tok, self.pos = nn.Embedding(VOCAB, DIM), nn.Embedding(MAX_SEQ, DIM)
        self.blocks = [Block() for _ in range(LAYERS)]
        self.ln, self.head = nn.LayerNorm(DIM), nn.Linear(DIM, VOCAB)

    def __call__(self, x):
        L = x.shape[1]
        h = self.tok(x) + self.pos(mx.arange(L))
        m = nn.MultiHeadAttention.create_additive_causal_mask(L)
        for b in self.blocks:
            h = b(h, m)
        return self.head(self.ln(h))


TARGETS = [("attn", "query_proj"), ("attn", "value_proj"), (None, "up"), (None, "down")]


def slots(model):
    for li, b in enumerate(model.blocks):
        for parent, name in TARGETS:
            owner = getattr(b, parent) if parent else b
            yield f"blocks.{li}.{parent + '.' if parent else ''}{name}", owner, name


def wrap(model):
    model.freeze()
    for _, owner, name in slots(model):
        setattr(owner, name, LoRALinear(getattr(owner, name)))


def loss_fn(model, batch, lengths):
    x, y = batch[:, :-1], batch[:, 1:]
    mask = mx.arange(1, y.shape[1] + 1)[None, :] < lengths[:, None]
    ce = nn.losses.cross_entropy(model(x), y) * mask
    return ce.sum() / mask.sum()


def evaluate(model, data):
    tot = n = 0.0
    for batch, lengths in batches(data, 8, seed=0):
        k = float((lengths - 1).sum())
        tot += loss_fn(model, batch, lengths).item() * k
        n += k
    return tot / n


def fresh_adapters(model, seed):
    mx.random.seed(seed)
    for _, owner, name in slots(model):
        lin = getattr(owner, name)
        b = 1.0 / math.sqrt(lin.lora_a.shape[0])
        lin.lora_a = mx.random.uniform(-b, b, lin.lora_a.shape)
        lin.lora_b = mx.zeros(lin.lora_b.shape)


def adapter_state(model):
    return {k: v for k, v in tree_flatten(model.trainable_parameters())}


def fit_adapter(model, tag, train, val_self, val_other, other_tag, seed):
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, PEAK_LR, WARMUP),
         optim.cosine_decay(PEAK_LR, ADAPTER_STEPS - WARMUP, 1e-4)], [WARMUP])
    opt = optim.Adam(learning_rate=sched)
    vg = nn.value_and_grad(model, loss_fn)
    it = batches(train, 8, seed=seed, epochs=1000)
    run = []
    for step in range(1, ADAPTER_STEPS + 1):
        lr_now = float(sched(opt.step))
        batch, lengths = next(it)
        loss, g = vg(model, batch, lengths)
        opt.update(model, g)
        mx.eval(model.trainable_parameters(), opt.state, loss)
        run.append(loss.item())
        if step in (1, 2) or step % 50 == 0:
            fields = dict(phase=tag, step=step, lr=lr_now, trainLoss=sum(run) / len(run))
            fields["val" + tag.capitalize()] = evaluate(model, val_self)
            fields["val" + other_tag.capitalize()] = evaluate(model, val_other)
            record("Report", **fields)
            run = []


def dense_deltas(state):
    """adapter safetensors dict -> {slot: dW (out, in)}"""
    out = {}
    for key in state:
        if key.endswith(".lora_a"):
            slot = key[: -len(".lora_a")]
            a, b = state[key], state[slot + ".lora_b"]
            out[slot] = (SCALE * (a @ b)).T
    return out


def ties(deltas_list, keep=0.3):
    merged = {}
    for slot in deltas_list[0]:
        stack = []
        for d in deltas_list:
            t = d[slot]
            flat = mx.abs(t).reshape(-1)
            k = max(1, int(keep * flat.size))
            thresh = mx.sort(flat)[-k]
            stack.append(mx.where(mx.abs(t) >= thresh, t, 0.0))
        s = mx.stack(stack)
        sign = mx.sign(s.sum(axis=0))
        agree = (mx.sign(s) == sign) & (s != 0)
        cnt = agree.sum(axis=0)
        merged[slot] = mx.where(cnt > 0, (s * agree).sum(axis=0) / mx.maximum(cnt, 1), 0.0)
    return merged


def folded_model(base_weights, deltas):
    m = TinyLM()
    m.load_weights(list(base_weights.items()))
    for slot, owner, name in slots(m):
        lin = getattr(owner, name)
        if slot in deltas:
            lin.weight = lin.weight + deltas[slot]
    mx.eval(m.parameters())
    return m


def main():
    t0 = time.time()
    tide_tr, tide_va = rows(70, "tide"), rows(16, "tide")
    bell_tr, bell_va = rows(70, "bell"), rows(16, "bell")
    harbor = rows(80, "harbor")
    record("Data", tideTrain=len(tide_tr), bellTrain=len(bell_tr), harborRows=len(harbor),
           uniformNats=math.log(VOCAB))

    model = TinyLM()
    mx.eval(model.parameters())
    opt = optim.AdamW(learning_rate=3e-3)
    vg = nn.value_and_grad(model, loss_fn)
    it = batches(harbor, 8, seed=3, epochs=100)
    for _ in range(200):                      # base fit runs quietly
        batch, lengths = next(it)
        loss, g = vg(model, batch, lengths)
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
    base_weights = dict(tree_flatten(model.parameters()))
    record("Base", harborLoss=loss.item(), valTide=evaluate(model, tide_va),
           valBell=evaluate(model, bell_va), secs=time.time() - t0)

    wrap(model)
    n_tr = sum(v.size for v in adapter_state(model).values())
    record("Adapters", trainable=n_tr, total=sum(v.size for _, v in tree_flatten(model.parameters())))

    out_dir = os.path.join(tempfile.mkdtemp(), "lantern")
    os.makedirs(out_dir, exist_ok=True)
    saved = {}
    for tag, tr, va, other, ova, seed in (("tide", tide_tr, tide_va, "bell", bell_va, 21),
                                          ("bell", bell_tr, bell_va, "tide", tide_va, 22)):
        fresh_adapters(model, seed)
        fit_adapter(model, tag, tr, va, ova, other, seed)
        path = os.path.join(out_dir, f"{tag}_adapters.safetensors")
        mx.save_safetensors(path, adapter_state(model))
        saved[tag] = path

    # reload check: put the tide adapter back from disk into the live wrapped model
    model.load_weights(saved["tide"], strict=False)
    record("Reload", adapter="tide", valTide=evaluate(model, tide_va))

    d_tide = dense_deltas(mx.load(saved["tide"]))
    d_bell = dense_deltas(mx.load(saved["bell"]))
    variants = {
        "base": {},
        "tideOnly": d_tide,
        "bellOnly": d_bell,
        "average": {k: 0.5 * (d_tide[k] + d_bell[k]) for k in d_tide},
        "sum": {k: d_tide[k] + d_bell[k] for k in d_tide},
        "ties": ties([d_tide, d_bell]),
    }
    for name, deltas in variants.items():
        m = folded_model(base_weights, deltas)
        vt, vb = evaluate(m, tide_va), evaluate(m, bell_va)
        record("Merge", variant=name, valTide=vt, valBell=vb, meanOfTwo=(vt + vb) / 2)
    cos = []
    for k in d_tide:
        a, b = d_tide[k].reshape(-1), d_bell[k].reshape(-1)
        cos.append((a @ b / (mx.linalg.norm(a) * mx.linalg.norm(b))).item())
    record("Done", deltaCosineMean=float(np.mean(cos)), secs=time.time() - t0)


if __name__ == "__main__":
    main()
