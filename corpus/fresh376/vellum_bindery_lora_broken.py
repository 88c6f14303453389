"""LoRA + bias fine-tune of a tiny intent classifier, save the adapter, reload, evaluate."""
import os
import tempfile

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten
from mlx_lm.tuner.lora import LoRALinear

VOCAB, DIM, HID, N_INTENT, SEQ = 96, 32, 64, 6, 12

_LORA_WRAPPED_BASE_ENDINGS = (
    ".weight",
    ".scales",
    ".biases",
    ".linear.weight",
    ".linear.bias",
    ".linear.scales",
    ".linear.biases",
    ".embedding.weight",
    ".embedding.scales",
    ".embedding.biases",
)

_ROOT_LORA_WRAPPED_BASE_KEYS = frozenset({
    "weight", "scales", "biases",
    "linear.weight", "linear.bias", "linear.scales", "linear.biases",
    "embedding.weight", "embedding.scales", "embedding.biases",
})


def _is_base_tensor_inside_lora_module(key, lora_module_paths, has_root_lora_module=False):
    under_lora = lora_module_paths and any(key.startswith(p) for p in lora_module_paths)
    if under_lora:
        return key.endswith(_LORA_WRAPPED_BASE_ENDINGS)
    if has_root_lora_module:
        return key in _ROOT_LORA_WRAPPED_BASE_KEYS
    return False


class IntentNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, DIM)
        self.proj = nn.Linear(DIM, HID, bias=True)
        self.head = nn.Linear(HID, N_INTENT, bias=True)

    def __call__(self, x):
        h = self.embed(x).mean(axis=1)
        return self.head(nn.gelu(self.proj(h)))


def load_base():
    mx.random.seed(0)
    m = IntentNet()
    mx.eval(m.parameters())
    return m


def attach_lora(model, rank=4, scale=2.0):
    model.freeze()
    model.proj = LoRALinear.from_base(model.proj, r=rank, scale=scale)
    model.head = LoRALinear.from_base(model.head, r=rank, scale=scale)
    for m in (model.proj, model.head):
        m.linear.unfreeze(keys=["bias"])
    return model


def lora_paths(model):
    return [name + "." for name, m in model.named_modules() if isinstance(m, LoRALinear) and name]


def save_adapter(model, path):
    wrapped_paths = lora_paths(model)
    kept = {
        k: v for k, v in tree_flatten(model.trainable_parameters())
        if not _is_base_tensor_inside_lora_module(k, wrapped_paths)
    }
    mx.save_safetensors(path, kept)
    return sorted(kept)


def make_data(n, rng):
    # intents are skewed; intent k is signalled by keyword token 10*k+1 somewhere in the utterance
    prior = np.array([0.45, 0.2, 0.15, 0.1, 0.06, 0.04])
    y = rng.choice(N_INTENT, size=n, p=prior)
    x = rng.integers(60, VOCAB, size=(n, SEQ))
    pos = rng.integers(0, SEQ, size=n)
    keep = rng.random(n) < 0.8
    x[np.arange(n)[keep], pos[keep]] = 10 * y[keep] + 1
    return mx.array(x.astype(np.int32)), mx.array(y.astype(np.int32))


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def evaluate(model, x, y):
    logits = model(x)
    loss = nn.losses.cross_entropy(logits, y, reduction="mean")
    acc = (logits.argmax(axis=-1) == y).astype(mx.float32).mean()
    return loss.item(), acc.item()


def main():
    rng = np.random.default_rng(7)
    xtr, ytr = make_data(4096, rng)
    xva, yva = make_data(1024, rng)

    model = attach_lora(load_base())
    n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    print(f"trainable params: {n_train}")
    base_loss, base_acc = evaluate(model, xva, yva)
    print(f"before tuning  val_loss {base_loss:.4f}  val_acc {base_acc:.3f}")

    opt = optim.Adam(learning_rate=3e-2)
    step_fn = nn.value_and_grad(model, loss_fn)
    bs, steps = 128, 300
    for step in range(1, steps + 1):
        idx = mx.array(rng.integers(0, xtr.shape[0], size=bs))
        loss, grads = step_fn(model, xtr[idx], ytr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step % 50 == 0:
            print(f"step {step:4d}  train_loss {loss.item():.4f}")

    tuned_loss, tuned_acc = evaluate(model, xva, yva)
    print(f"after tuning   val_loss {tuned_loss:.4f}  val_acc {tuned_acc:.3f}")

    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "adapters.safetensors")
        keys = save_adapter(model, path)
        print(f"saved {len(keys)} adapter tensors")
        fresh = attach_lora(load_base())
        fresh.load_weights(path, strict=False)
        mx.eval(fresh.parameters())
    re_loss, re_acc = evaluate(fresh, xva, yva)
    print(f"reloaded       val_loss {re_loss:.4f}  val_acc {re_acc:.3f}")


if __name__ == "__main__":
    main()
