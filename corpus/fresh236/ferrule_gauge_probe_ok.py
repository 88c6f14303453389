"""Few-shot fault-tag classifier on top of a 4-bit pre-quantized encoder.

The encoder checkpoint ships quantized; we keep it frozen and adapt only the
projector head, as the adapter config below asks for.
"""
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

mx.random.seed(7)

N_FEAT, HIDDEN, N_CLASSES = 32, 64, 3


class LoRALinear(nn.Module):
    @staticmethod
    def from_base(base, r=8, scale=2.0):
        out_dims, in_dims = base.weight.shape
        if isinstance(base, nn.QuantizedLinear):
            in_dims = in_dims * 32 // base.bits
        layer = LoRALinear(in_dims, out_dims, r=r, scale=scale)
        layer.linear = base
        return layer

    def __init__(self, in_dims, out_dims, r=8, scale=2.0):
        super().__init__()
        self.linear = nn.Linear(in_dims, out_dims)
        bound = 1.0 / math.sqrt(in_dims)
        self.lora_a = mx.random.uniform(-bound, bound, (in_dims, r))
        self.lora_b = mx.zeros((r, out_dims))
        self.scale = scale

    def __call__(self, x):
        return self.linear(x) + self.scale * ((x @ self.lora_a) @ self.lora_b)


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = [nn.Linear(N_FEAT, HIDDEN), nn.Linear(HIDDEN, HIDDEN)]

    def __call__(self, x):
        for layer in self.layers:
            x = nn.gelu(layer(x))
        return x


class Projector(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear_1 = nn.Linear(HIDDEN, HIDDEN)
        self.linear_2 = nn.Linear(HIDDEN, N_CLASSES)

    def __call__(self, h):
        return self.linear_2(nn.gelu(self.linear_1(h)))


class TagModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = Encoder()
        self.multi_modal_projector = Projector()

    def __call__(self, x):
        return self.multi_modal_projector(self.encoder(x))


def lora_walk(model, lora_cfg, target_modules, attr_names, *, match_all_linear=False):
    """Replace matching Linear/QuantizedLinear layers below the named attributes."""
    for attr in attr_names:
        sub = getattr(model, attr, None)
        if sub is None:
            continue
        swaps = []
        for name, child in sub.named_modules():
            if not match_all_linear and name.split(".")[-1] not in target_modules:
                continue
            if isinstance(child, (nn.Linear, nn.QuantizedLinear)):
                swaps.append((name, LoRALinear.from_base(child, **lora_cfg)))
        if swaps:
            sub.update_modules(tree_unflatten(swaps))


def make_data(teacher, n, minority_frac):
    x = mx.random.normal((n, N_FEAT))
    feats = teacher["enc"](x)
    scores = feats @ teacher["w"]
    scores = scores - scores.mean(axis=0) + mx.array([0.0, 0.0, math.log(minority_frac)])
    y = mx.argmax(scores + 0.3 * mx.random.normal(scores.shape), axis=-1)
    return x, y


def balanced_acc(logits, y):
    pred = mx.argmax(logits, axis=-1)
    accs = []
    for c in range(N_CLASSES):
        m = y == c
        cnt = m.sum().item()
        if cnt:
            accs.append(((pred == c) & m).sum().item() / cnt)
    return sum(accs) / len(accs)


# --- "pretrained" checkpoint, shipped 4-bit -------------------------------
model = TagModel()
mx.eval(model.parameters())
teacher = {"enc": model.encoder, "w": mx.random.normal((HIDDEN, N_CLASSES)) * 2.0}
x_tr, y_tr = make_data(teacher, 240, 0.12)
x_va, y_va = make_data(teacher, 600, 0.12)
mx.eval(x_tr, y_tr, x_va, y_va)
nn.quantize(model, group_size=32, bits=4)

counts = [int((y_tr == c).sum().item()) for c in range(N_CLASSES)]
print(f"train class counts: {counts}  val n={x_va.shape[0]}")
majority = max(range(N_CLASSES), key=lambda c: counts[c])
base_acc = (y_va == majority).astype(mx.float32).mean().item()
print(f"majority-class baseline: acc={base_acc:.3f} balanced_acc={1.0 / N_CLASSES:.3f}")

# --- adapter setup -------------------------------------------------------
adapter_cfg = dict(finetune_encoder=False, train_projector=True,
                   target_modules=("q_proj", "v_proj"), lora=dict(r=8, scale=2.0))
model.freeze()
if adapter_cfg["finetune_encoder"]:
    lora_walk(model, adapter_cfg["lora"], adapter_cfg["target_modules"],
              attr_names=("encoder",))
if adapter_cfg["train_projector"]:
    lora_walk(
        model,
        adapter_cfg["lora"],
        target_modules=(),
        attr_names=("multi_modal_projector", "mm_projector", "connector"),
        match_all_linear=True,
    )
model.unfreeze(keys=["lora_a", "lora_b"], strict=False)

n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
print(f"trainable params: {n_train}")

inv = mx.array([len(y_tr.tolist()) / (N_CLASSES * max(c, 1)) for c in counts])


def loss_fn(m, x, y):
    logits = m(x)
    ce = nn.losses.cross_entropy(logits, y, reduction="none")
    w = inv[y]
    return (ce * w).sum() / w.sum()


opt = optim.AdamW(learning_rate=3e-3, weight_decay=0.0)
step_fn = nn.value_and_grad(model, loss_fn)

t0 = time.time()
bs, epochs = 32, 12
n = x_tr.shape[0]
for ep in range(1, epochs + 1):
    perm = mx.random.permutation(n)
    tot = 0.0
    for i in range(0, n, bs):
        idx = perm[i:i + bs]
        loss, grads = step_fn(model, x_tr[idx], y_tr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item() * idx.shape[0]
    if ep % 3 == 0 or ep == 1:
        va_logits = model(x_va)
        va_loss = nn.losses.cross_entropy(va_logits, y_va, reduction="mean").item()
        print(f"epoch {ep:2d} train_wloss={tot / n:.4f} val_loss={va_loss:.4f} "
              f"val_bal_acc={balanced_acc(va_logits, y_va):.3f}")

va_logits = model(x_va)
acc = (mx.argmax(va_logits, -1) == y_va).astype(mx.float32).mean().item()
print(f"final: val_acc={acc:.3f} (baseline {base_acc:.3f}) "
      f"val_bal_acc={balanced_acc(va_logits, y_va):.3f} (baseline {1.0 / N_CLASSES:.3f}) "
      f"time={time.time() - t0:.1f}s")
