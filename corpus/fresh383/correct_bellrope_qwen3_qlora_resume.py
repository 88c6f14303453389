"""Bell-ringers' method book: QLoRA on a tiny qwen3 with a two-sitting adapter run.

A tiny mlx_lm qwen3 is fitted on the old tower's change-ringing call stream, packed to
4-bit, frozen, and given LoRA adapters (mlx_lm linear_to_lora_layers) for the new
tower's calls. The adapter run is split in two sittings: adapters saved in the mlx_lm
adapter layout, a fresh quantized model rebuilt, load_adapters, then more steps with a
new warm-up. Finally the adapters are fused back into the 4-bit weights.
Output: tab-separated rows.
"""
import json
import math
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten
from mlx_lm.models import qwen3
from mlx_lm.tuner.lora import LoRALinear
from mlx_lm.tuner.utils import build_schedule, linear_to_lora_layers, load_adapters

V, T = 24, 16
rng = np.random.default_rng(7)
mx.random.seed(7)


def make_chain(seed, base=None, redraw=()):
    r = np.random.default_rng(seed)
    if base is None:
        P = r.dirichlet(np.full(V, 0.25), size=V)
    else:
        P = base.copy()
        for i in redraw:
            P[i] = r.dirichlet(np.full(V, 0.25))
    return P


def stationary(P):
    w, v = np.linalg.eig(P.T)
    pi = np.real(v[:, np.argmin(np.abs(w - 1))])
    return pi / pi.sum()


def entropy_floor(P):
    pi = stationary(P)
    H = -(P * np.log(np.clip(P, 1e-30, None))).sum(1)
    return float((pi * H).sum())


def sample(P, n, r):
    pi = stationary(P)
    cdf = np.cumsum(P, 1)
    out = np.empty((n, T + 1), dtype=np.int32)
    out[:, 0] = r.choice(V, size=n, p=pi)
    for t in range(1, T + 1):
        u = r.random(n)[:, None]
        out[:, t] = np.minimum((u > cdf[out[:, t - 1]]).sum(1), V - 1)
    return out


PA = make_chain(11)
PB = make_chain(12, base=PA, redraw=range(0, 24, 3))
trainA, valA = sample(PA, 3000, rng), sample(PA, 160, rng)
trainB, valB = sample(PB, 400, rng), sample(PB, 160, rng)
floorA, floorB = entropy_floor(PA), entropy_floor(PB)

args = qwen3.ModelArgs(
    model_type="qwen3", hidden_size=32, num_hidden_layers=2, intermediate_size=64,
    num_attention_heads=4, rms_norm_eps=1e-5, vocab_size=V, num_key_value_heads=2,
    max_position_embeddings=32, head_dim=8, tie_word_embeddings=True, rope_theta=10000.0,
)


def nll(model, batch):
    logits = model(batch[:, :-1])
    return nn.losses.cross_entropy(logits, batch[:, 1:], reduction="mean")


def evaluate(model, data):
    tot = 0.0
    for i in range(0, len(data), 200):
        tot += nll(model, mx.array(data[i:i + 200])).item() * len(data[i:i + 200])
    return tot / len(data)


# ---- old tower: quiet base fit ----
t0 = time.time()
base = qwen3.Model(args)
opt = optim.AdamW(learning_rate=optim.cosine_decay(4e-3, 240, 2e-4), weight_decay=0.01)
vg = nn.value_and_grad(base, nll)
for step in range(240):
    idx = rng.integers(0, len(trainA), 32)
    loss, g = vg(base, mx.array(trainA[idx]))
    opt.update(base, g)
    mx.eval(base.parameters(), opt.state, loss)
print(f"# base fitted on old tower in {time.time() - t0:.1f}s: valA nll {evaluate(base, valA):.4f} "
      f"(floor {floorA:.4f}), valB nll {evaluate(base, valB):.4f} (floor {floorB:.4f})")

nn.quantize(base, group_size=32, bits=4)
workdir = tempfile.mkdtemp()
base_file = os.path.join(workdir, "base_q4.safetensors")
mx.save_safetensors(base_file, dict(tree_flatten(base.parameters())))
print(f"# packed to 4-bit: valA nll {evaluate(base, valA):.4f}  valB nll {evaluate(base, valB):.4f}")

lora_cfg = {"rank": 8, "scale": 10.0, "dropout": 0.0,
            "keys": ["self_attn.q_proj", "self_attn.v_proj", "mlp.down_proj"]}
adapter_dir = os.path.join(workdir, "adapters")
os.makedirs(adapter_dir, exist_ok=True)
with open(os.path.join(adapter_dir, "adapter_config.json"), "w") as f:
    json.dump({"fine_tune_type": "lora", "num_layers": 2, "lora_parameters": lora_cfg}, f)


def fresh_quantized():
    m = qwen3.Model(args)
    nn.quantize(m, group_size=32, bits=4)
    m.load_weights(base_file)
    m.freeze()
    return m


def frozen_snapshot(m):
    return {k: np.array(v) for k, v in tree_flatten(m.parameters())
            if "lora_" not in k}


def drift(m, snap):
    cur = {k.replace(".linear.", "."): v for k, v in tree_flatten(m.parameters())}
    return max(float(np.abs(np.array(cur[k]) - v).max()) for k, v in snap.items())


print("sitting\tstep\tlr\ttrain_nll\tvalB_nll\tvalA_nll\tfloorB")


def run_sitting(model, sitting, first_step, n_steps, sched_cfg):
    sched = build_schedule(sched_cfg)
    opt = optim.Adam(learning_rate=sched)
    vg = nn.value_and_grad(model, nll)
    window = []
    for k in range(n_steps):
        lr_used = float(sched(k))
        idx = rng.integers(0, len(trainB), 16)
        loss, g = vg(model, mx.array(trainB[idx]))
        if k == 0:
            leaves = [(n, float(mx.abs(v).sum())) for n, v in tree_flatten(g)]
            nz = sum(1 for _, s in leaves if s > 0)
            print(f"# sitting {sitting}: {len(leaves)} trainable arrays, {nz} with non-zero gradient")
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        window.append(loss.item())
        step = first_step + k
        if k == 0 or (k + 1) % 20 == 0:
            print(f"{sitting}\t{step}\t{lr_used:.2e}\t{np.mean(window):.4f}\t"
                  f"{evaluate(model, valB):.4f}\t{evaluate(model, valA):.4f}\t{floorB:.4f}")
            window = []


# ---- sitting 1 ----
model = fresh_quantized()
snap = frozen_snapshot(model)
linear_to_lora_layers(model, 2, lora_cfg)
n_tr = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
n_all = sum(v.size for _, v in tree_flatten(model.parameters()))
print(f"# adapters: {n_tr} trainable of {n_all} stored values")
run_sitting(model, 1, 1, 80,
            {"name": "cosine_decay", "arguments": [3e-3, 80, 3e-4], "warmup": 20, "warmup_init": 0.0})
mx.save_safetensors(os.path.join(adapter_dir, "adapters.safetensors"),
                    dict(tree_flatten(model.trainable_parameters())))
v_before = evaluate(model, valB)
print(f"# frozen drift after sitting 1: {drift(model, snap):.1e}; adapters saved")
del model

# ---- sitting 2: rebuild, reload, continue ----
model = fresh_quantized()
load_adapters(model, adapter_dir)
model.freeze()
model.unfreeze(keys=["lora_a", "lora_b"], strict=False)
v_after = evaluate(model, valB)
print(f"# reloaded: valB nll {v_after:.4f} vs {v_before:.4f} before saving (|diff| {abs(v_after - v_before):.1e})")
run_sitting(model, 2, 81, 80,
            {"name": "cosine_decay", "arguments": [1.5e-3, 80, 1e-5], "warmup": 20, "warmup_init": 0.0})
print(f"# frozen drift after sitting 2: {drift(model, snap):.1e}")

# ---- fuse ----
unfused = evaluate(model, valB)
fused = []
for name, mod in model.named_modules():
    if isinstance(mod, LoRALinear):
        fused.append((name, mod.fuse(dequantize=False)))
model.update_modules(tree_unflatten(fused))
print(f"# fused {len(fused)} adapted layers back into 4-bit weights: valB nll {evaluate(model, valB):.4f} "
      f"(unfused {unfused:.4f}, floor {floorB:.4f}); valA nll {evaluate(model, valA):.4f} (floor {floorA:.4f})")
print(f"# done in {time.time() - t0:.1f}s")
