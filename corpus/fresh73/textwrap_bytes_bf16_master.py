"""Byte-level language model on the source of Python's textwrap module.

Mixed precision: the master weights live in float32 and the optimizer updates
those; each step the forward/backward runs on a bfloat16 copy of the weights,
and the bf16 gradients are cast back to float32 before the update.
Reports bits per byte (lower is better) in INI-style blocks.
"""
import inspect
import math
import time
import textwrap

import numpy as np
import mlx.core as mx
import mlx.optimizers as optim
from mlx.utils import tree_map, tree_flatten

CTX = 6          # bytes of context
EMB = 12
HID = 64
VOCAB = 256
BATCH = 128
STEPS = 1000
EVAL_EVERY = 200

raw = np.frombuffer(inspect.getsource(textwrap).encode("utf-8"), dtype=np.uint8)
split = int(0.9 * len(raw))
train_bytes, valid_bytes = raw[:split], raw[split:]


def windows(buf):
    idx = np.arange(CTX, len(buf))
    ctx = np.stack([buf[idx - CTX + k] for k in range(CTX)], axis=1)
    return ctx.astype(np.int32), buf[idx].astype(np.int32)


Xtr, Ytr = windows(train_bytes)
Xva, Yva = windows(valid_bytes)
Xva, Yva = mx.array(Xva), mx.array(Yva)

rng = np.random.default_rng(7)
mx.random.seed(7)


def init_params():
    def dense(fan_in, fan_out):
        lim = 1.0 / math.sqrt(fan_in)
        return {"w": mx.random.uniform(-lim, lim, (fan_in, fan_out)),
                "b": mx.zeros((fan_out,))}
    return {
        "emb": mx.random.normal((VOCAB, EMB)) * 0.1,
        "h1": dense(CTX * EMB, HID),
        "h2": dense(HID, HID),
        "out": dense(HID, VOCAB),
    }


def forward(p, x):
    e = p["emb"][x].reshape(x.shape[0], CTX * EMB)
    h = mx.maximum(e @ p["h1"]["w"] + p["h1"]["b"], 0)
    h = h + mx.maximum(h @ p["h2"]["w"] + p["h2"]["b"], 0)
    return h @ p["out"]["w"] + p["out"]["b"]


def loss_fn(p_half, x, y):
    logits = forward(p_half, x).astype(mx.float32)   # loss in fp32
    return mx.mean(mx.logsumexp(logits, axis=-1)
                   - mx.take_along_axis(logits, y[:, None], axis=-1)[:, 0])


grad_fn = mx.value_and_grad(loss_fn)
master = init_params()
mx.eval(master)
opt = optim.AdamW(learning_rate=optim.cosine_decay(3e-3, STEPS, 1e-4),
                  weight_decay=0.05)
LN2 = math.log(2.0)


def to_bf16(tree):
    return tree_map(lambda a: a.astype(mx.bfloat16), tree)


def valid_bpb(p):
    p_half = to_bf16(p)
    tot = 0.0
    for i in range(0, Xva.shape[0], 1024):
        xb, yb = Xva[i:i + 1024], Yva[i:i + 1024]
        tot += loss_fn(p_half, xb, yb).item() * xb.shape[0]
    return tot / Xva.shape[0] / LN2


print("[data]")
print(f"source_bytes = {len(raw)}")
print(f"train_windows = {len(Ytr)}")
print(f"valid_windows = {Yva.shape[0]}")
print(f"uniform_bpb = {math.log2(VOCAB):.3f}")
print(f"untrained_valid_bpb = {valid_bpb(master):.4f}")
print()

t0 = time.perf_counter()
window = []
for step in range(1, STEPS + 1):
    sel = rng.integers(0, len(Ytr), BATCH)
    xb, yb = mx.array(Xtr[sel]), mx.array(Ytr[sel])
    loss, g_half = grad_fn(to_bf16(master), xb, yb)
    grads = tree_map(lambda g: g.astype(mx.float32), g_half)
    if step == 1:
        leaves = tree_flatten(grads)
        zero = [k for k, g in leaves if mx.abs(g).max().item() == 0.0]
        dtypes = {str(v.dtype) for _, v in tree_flatten(master)}
        print("[grad_check]")
        print(f"leaves = {len(leaves)}")
        print(f"zero_leaves = {zero}")
        print(f"master_dtype = {sorted(dtypes)}")
        print(f"compute_dtype = {g_half['h1']['w'].dtype}")
        print()
    master = opt.apply_gradients(grads, master)
    mx.eval(master, opt.state, loss)
    window.append(loss.item())
    if step % EVAL_EVERY == 0:
        print(f"[eval {step // EVAL_EVERY}]")
        print(f"step = {step}")
        print(f"lr = {opt.learning_rate.item():.2e}")
        print(f"train_bpb = {np.mean(window) / LN2:.4f}")
        print(f"valid_bpb = {valid_bpb(master):.4f}")
        print(f"elapsed_s = {time.perf_counter() - t0:.1f}")
        print()
        window = []

print("[done]")
print(f"final_valid_bpb = {valid_bpb(master):.4f}")
