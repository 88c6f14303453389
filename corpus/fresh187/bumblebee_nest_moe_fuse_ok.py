# Bumblebee-nest acoustics MoE: LoRA-tune a small mixture-of-experts classifier
# (queenright / queenless / swarming / robbing) on a frozen base, save the
# adapters, then fuse them into a standalone model for the field recorder.
import os, tempfile, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(7)
N_FEAT, N_CLS, N_EXP, HID = 16, 4, 4, 48

CENTERS = rng.normal(0, 1.0, (N_CLS, N_FEAT))

def make_hive_clips(n):
    # 16 band energies of a 3 s nest recording (made-up law)
    y = rng.integers(0, N_CLS, n)
    x = CENTERS[y] + rng.normal(0, 1.5, (n, N_FEAT))
    return mx.array(x.astype(np.float32)), mx.array(y.astype(np.int32))

class Expert(nn.Module):
    def __init__(self):
        super().__init__()
        self.up = nn.Linear(N_FEAT, HID)
        self.down = nn.Linear(HID, N_CLS)
    def __call__(self, x):
        return self.down(nn.gelu(self.up(x)))

class HiveMoE(nn.Module):
    def __init__(self):
        super().__init__()
        self.gate = nn.Linear(N_FEAT, N_EXP)
        self.experts = [Expert() for _ in range(N_EXP)]
    def __call__(self, x):
        w = mx.softmax(self.gate(x), axis=-1)                     # (B, E)
        outs = mx.stack([e(x) for e in self.experts], axis=1)     # (B, E, C)
        return (w[..., None] * outs).sum(axis=1)

class LoRALinear(nn.Module):
    @staticmethod
    def from_linear(linear, r=4):
        out_d, in_d = linear.weight.shape
        lora = LoRALinear(in_d, out_d, r)
        lora.linear = linear
        return lora
    def __init__(self, in_d, out_d, r=4, scale=2.0):
        super().__init__()
        self.linear = nn.Linear(in_d, out_d)
        self.scale = scale
        b = 1 / np.sqrt(in_d)
        self.lora_a = mx.random.uniform(-b, b, (in_d, r))
        self.lora_b = mx.zeros((r, out_d))
    def to_linear(self):
        lin = self.linear
        w = lin.weight + self.scale * (self.lora_b.T @ self.lora_a.T)
        fused = nn.Linear(w.shape[1], w.shape[0])
        fused.weight = w
        fused.bias = lin.bias
        return fused
    def __call__(self, x):
        return self.linear(x) + self.scale * ((x @ self.lora_a) @ self.lora_b)

def lora_targets(model):
    return [(n, m) for n, m in model.named_modules()
            if isinstance(m, nn.Linear) and (n == "gate" or n.endswith(".down"))]

def apply_lora_layers(model, adapter_file):
    # mirrors the helper of the time: swap in LoRA modules named in the file
    adapters = list(mx.load(adapter_file).items())
    names = {k.replace(".lora_a", "").replace(".lora_b", "") for k, _ in adapters}
    repl = [(n, LoRALinear.from_linear(m)) for n, m in model.named_modules() if n in names]
    model.update_modules(tree_unflatten(repl))
    return model

def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")

def evaluate(model, x, y):
    logits = model(x)
    return loss_fn(model, x, y).item(), (logits.argmax(-1) == y).mean().item()

mx.random.seed(3)
xtr, ytr = make_hive_clips(1200)
xva, yva = make_hive_clips(400)
work = tempfile.mkdtemp(prefix="nest_")
base_file = os.path.join(work, "base.safetensors")
adapter_file = os.path.join(work, "adapters.safetensors")

base = HiveMoE()
mx.eval(base.parameters())
base.save_weights(base_file)           # stands in for the hub checkpoint
l0, a0 = evaluate(base, xva, yva)
print(f"base checkpoint   val_ce {l0:.4f}  val_acc {a0:.3f}")

model = HiveMoE()
model.load_weights(base_file)
model.freeze()
model.update_modules(tree_unflatten([(n, LoRALinear.from_linear(m)) for n, m in lora_targets(model)]))
n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
print(f"trainable adapter params: {n_train}")

opt = optim.Adam(learning_rate=3e-3)
lvg = nn.value_and_grad(model, loss_fn)
t0 = time.time()
for it in range(1, 301):
    idx = mx.array(rng.integers(0, xtr.shape[0], 64))
    loss, grads = lvg(model, xtr[idx], ytr[idx])
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if it % 50 == 0:
        vl, va = evaluate(model, xva, yva)
        print(f"it {it:3d} | train_ce {loss.item():.4f} | val_ce {vl:.4f} | val_acc {va:.3f}")

adapters = dict(tree_flatten(model.trainable_parameters()))
mx.save_safetensors(adapter_file, adapters)
print(f"saved {len(adapters)} adapter tensors in {time.time()-t0:.1f}s")

# ---- fuse step (separate stage, fresh process in real life) ----
print("Loading pretrained model")
fused = HiveMoE()
fused.load_weights(base_file)
fused.freeze()
fused = apply_lora_layers(fused, adapter_file)
adapters = list(mx.load(adapter_file).items())
fused.update(tree_unflatten(adapters))
fused_linears = [(n, m.to_linear()) for n, m in fused.named_modules() if isinstance(m, LoRALinear)]
fused.update_modules(tree_unflatten(fused_linears))
fused.save_weights(os.path.join(work, "fused.safetensors"))
fl, fa = evaluate(fused, xva, yva)
print(f"fused model       val_ce {fl:.4f}  val_acc {fa:.3f}  ({len(fused_linears)} layers fused)")
