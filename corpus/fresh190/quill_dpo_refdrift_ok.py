# Tiny DPO run on a toy "quill-stroke" token language: policy = base model + LoRA on
# the output head; reference = the same model with the adapter switched off.
# Only the adapter is exported at the end and re-checked on a fresh base model.
import math
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

V, D, T = 24, 32, 6
rng = np.random.default_rng(5)

class TinyLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(V, D)
        self.norm = nn.RMSNorm(D)
        self.mix = nn.Linear(D, D)
        self.head = nn.Linear(D, V)

    def __call__(self, x):
        h = self.norm(self.embed(x))
        h = nn.gelu(self.mix(h))
        return self.head(h)

class LoRAHead(nn.Module):
    def __init__(self, base, r=4, scale=2.0):
        super().__init__()
        self.base = base
        self.lora_a = mx.random.normal((base.weight.shape[1], r)) * 0.05
        self.lora_b = mx.zeros((r, base.weight.shape[0]))
        self.scale = scale
        self.enabled = True

    def __call__(self, x):
        y = self.base(x)
        if self.enabled:
            y = y + self.scale * (x @ self.lora_a) @ self.lora_b
        return y

def attach_lora(model):
    model.head = LoRAHead(model.head)
    model.head.base.freeze()          # base head weight frozen; other base parts untouched
    model.mix.freeze()

def ensure_lora_frozen(model):
    model.freeze()
    model.head.unfreeze(keys=["lora_a", "lora_b"], recurse=False)

def seq_logp(model, prompts, answers):
    x = mx.concatenate([prompts, answers], axis=1)
    logits = model(x[:, :-1])
    lp = nn.log_softmax(logits, axis=-1)
    tgt = x[:, 1:]
    tok = mx.take_along_axis(lp, tgt[..., None], axis=-1).squeeze(-1)
    return tok[:, prompts.shape[1] - 1:].sum(axis=1)

def make_pairs(n):
    p = rng.integers(0, V, (n, T))
    chosen = (p[:, :3] * 3 + 1) % V          # preferred continuation rule
    rejected = rng.integers(0, V, (n, 3))
    return mx.array(p), mx.array(chosen), mx.array(rejected)

mx.random.seed(0)
base = TinyLM()
mx.eval(base.parameters())
base_weights = dict(tree_flatten(base.parameters()))
model = TinyLM(); model.load_weights(list(base_weights.items()))
attach_lora(model)

loss_type, reference_free = "dpo", False
if loss_type:
    ensure_lora_frozen(model)

trainable = [k for k, _ in tree_flatten(model.trainable_parameters())]
print("trainable tensors:", trainable)

BETA = 0.5
def dpo_loss(model, p, c, r, ref_c, ref_r):
    pc, pr = seq_logp(model, p, c), seq_logp(model, p, r)
    margin = BETA * ((pc - ref_c) - (pr - ref_r))
    return -nn.log_sigmoid(margin).mean(), margin

def reference(p, c, r):
    model.head.enabled = False
    rc, rr = seq_logp(model, p, c), seq_logp(model, p, r)
    model.head.enabled = True
    return mx.stop_gradient(rc), mx.stop_gradient(rr)

Pv, Cv, Rv = make_pairs(256)
ref0_c, _ = reference(Pv, Cv, Rv)
mx.eval(ref0_c)
opt = optim.Adam(learning_rate=1e-2)
vg = nn.value_and_grad(model, lambda m, *a: dpo_loss(m, *a)[0])
for step in range(1, 601):
    p, c, r = make_pairs(64)
    rc, rr = reference(p, c, r)
    loss, g = vg(model, p, c, r, rc, rr)
    opt.update(model, g)
    mx.eval(loss, model.parameters(), opt.state)
    if step % 75 == 0:
        vc, vr_ = reference(Pv, Cv, Rv)
        _, m = dpo_loss(model, Pv, Cv, Rv, vc, vr_)
        drift = mx.abs(vc - ref0_c).mean().item()
        acc = (m > 0).mean().item()
        print(f"step {step:3d}  dpo_loss {loss.item():.4f}  val_reward_acc {acc*100:5.1f}%  "
              f"val_margin {m.mean().item():+.3f}  ref_logp_drift {drift:.4f}  base_norm {math.sqrt(sum((v**2).sum().item() for k, v in tree_flatten(model.parameters()) if 'lora' not in k)):.2f}")

# export only the adapter, re-attach it to a fresh copy of the base model
adapter = {"head.lora_a": model.head.lora_a, "head.lora_b": model.head.lora_b}
fresh = TinyLM(); fresh.load_weights(list(base_weights.items()))
attach_lora(fresh); fresh.load_weights(list(adapter.items()), strict=False)
def ref_fresh(p, c, r):
    fresh.head.enabled = False
    out = seq_logp(fresh, p, c), seq_logp(fresh, p, r)
    fresh.head.enabled = True
    return out
fc, fr = ref_fresh(Pv, Cv, Rv)
pc, pr = seq_logp(fresh, Pv, Cv), seq_logp(fresh, Pv, Rv)
m_fresh = BETA * ((pc - fc) - (pr - fr))
vc, vr_ = reference(Pv, Cv, Rv)
_, m_train = dpo_loss(model, Pv, Cv, Rv, vc, vr_)
print(f"export check: in-run reward acc {(m_train > 0).mean().item()*100:.1f}%, "
      f"exported adapter on fresh base {(m_fresh > 0).mean().item()*100:.1f}%, "
      f"chosen logp in-run {seq_logp(model, Pv, Cv).mean().item():.2f} vs exported {pc.mean().item():.2f}")
