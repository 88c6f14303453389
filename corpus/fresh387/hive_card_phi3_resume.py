"""Apiary inspection cards: a tiny Phi-3 (mlx_lm.models.phi3) knows the old
inspectors' shorthand; LoRA adapters (mlx_lm.tuner.utils.linear_to_lora_layers)
adapt it to the new inspector's habits. The adapter run is done in two
sessions: session 1 saves adapters.safetensors + adapter_config.json, the
process state is thrown away, session 2 rebuilds the model, reloads the
adapters with mlx_lm.tuner.utils.load_adapters and continues with a fresh
optimizer whose warmup starts again from 0. Per-step numbers are also shown as
excess nats over the exact entropy of the new habits, which sits around zero
(and dips below it on lucky batches) once the adapters have caught up."""
import json, math, os, tempfile
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten
from mlx_lm.models import phi3
from mlx_lm.tuner.trainer import iterate_batches, default_loss, evaluate
from mlx_lm.tuner.utils import linear_to_lora_layers, load_adapters, build_schedule

NS = 14                      # card marks: brood, queen, eggs, stores, mites ...
V = NS + 1                   # + eos (0)
rng = np.random.default_rng(11)
P_old = rng.dirichlet(np.full(NS, 0.3), size=NS)
P_new = P_old.copy()
for r in rng.choice(NS, size=6, replace=False):       # new inspector: 6 habits differ
    P_new[r] = rng.dirichlet(np.full(NS, 0.3))


def rate(P):
    w, v = np.linalg.eig(P.T)
    pi = np.real(v[:, np.argmin(np.abs(w - 1))]); pi /= pi.sum()
    return float(-(pi[:, None] * P * np.log(P + 1e-30)).sum())


def cards(P, n):
    out = []
    for _ in range(n):
        L = int(rng.integers(20, 30)); s = [int(rng.integers(NS))]
        for _ in range(L - 1):
            s.append(int(rng.choice(NS, p=P[s[-1]])))
        out.append(([t + 1 for t in s] + [0], 0))
    return out


old_tr, old_va = cards(P_old, 512), cards(P_old, 64)
new_tr, new_va = cards(P_new, 256), cards(P_new, 64)
floor_new = rate(P_new)

cfg = dict(model_type="phi3", hidden_size=48, num_hidden_layers=2, intermediate_size=96,
           num_attention_heads=4, num_key_value_heads=2, rms_norm_eps=1e-5, vocab_size=V,
           max_position_embeddings=64, original_max_position_embeddings=64)


def build():
    return phi3.Model(phi3.ModelArgs(**cfg))


def val(model, ds):
    return evaluate(model, ds, batch_size=8, num_batches=-1, max_seq_length=64)


def run_steps(model, opt, ds, steps, seed, report=None):
    vg = nn.value_and_grad(model, default_loss)
    it = iterate_batches(ds, 8, 64, loop=True, seed=seed)
    model.train()
    for s in range(1, steps + 1):
        batch, lengths = next(it)
        (loss, ntok), g = vg(model, batch, lengths)
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        if report and s % report == 0:
            yield s, loss.item(), opt.learning_rate.item()


workdir = tempfile.mkdtemp()
mx.random.seed(5)

# --- base model on the old inspectors' cards (quiet) ---
base = build()
opt = optim.AdamW(learning_rate=optim.cosine_decay(3e-3, 200, 3e-4))
for _ in run_steps(base, opt, old_tr, 200, seed=1):
    pass
base_path = os.path.join(workdir, "base.safetensors")
base.save_weights(base_path)
print(f"base fitted: old-card val {val(base, old_va):.4f}  new-card val {val(base, new_va):.4f}"
      f"  (new-card floor {floor_new:.4f} nats)")

lora_cfg = {"rank": 4, "scale": 8.0, "dropout": 0.0,
            "keys": ["self_attn.qkv_proj", "self_attn.o_proj", "mlp.gate_up_proj"]}


def adapted_model():
    m = build()
    m.load_weights(base_path)
    m.freeze()
    return m


def schedule():
    return build_schedule({"name": "cosine_decay", "warmup": 10, "warmup_init": 0.0,
                           "arguments": [4e-3, 70, 4e-4]})


# --- session 1 ---
model = adapted_model()
linear_to_lora_layers(model, 2, lora_cfg)
ntrain = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
print(f"session 1: {ntrain} adapter params, lr warmup 0 -> 4e-3 over 10 steps")
opt = optim.Adam(learning_rate=schedule())
for s, l, lr in run_steps(model, opt, new_tr, 80, seed=2, report=10):
    print(f"  s1 step {s:3d}  loss {l:.4f}  excess {l - floor_new:+.4f}  lr {lr:.2e}")
adir = os.path.join(workdir, "adapters"); os.makedirs(adir)
mx.save_safetensors(os.path.join(adir, "adapters.safetensors"),
                    dict(tree_flatten(model.trainable_parameters())))
json.dump({"num_layers": 2, "lora_parameters": lora_cfg, "fine_tune_type": "lora"},
          open(os.path.join(adir, "adapter_config.json"), "w"))
v1 = val(model, new_va)
print(f"session 1 end: new-card val {v1:.4f}, adapters saved")
del model, opt

# --- session 2: resume from the saved adapters ---
model = adapted_model()
load_adapters(model, adir)
v_resume = val(model, new_va)
print(f"session 2 resumed: new-card val {v_resume:.4f} (session 1 ended at {v1:.4f})")
opt = optim.Adam(learning_rate=schedule())
for s, l, lr in run_steps(model, opt, new_tr, 80, seed=3, report=10):
    print(f"  s2 step {s:3d}  loss {l:.4f}  excess {l - floor_new:+.4f}  lr {lr:.2e}")
v2 = val(model, new_va)
print(f"final: new-card val {v2:.4f}  floor {floor_new:.4f}  gap {v2 - floor_new:+.4f}"
      f"  old-card val {val(model, old_va):.4f}")
