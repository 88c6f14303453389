"""LoRA adaptation of a small pretrained 'attention-ish' regressor to a shifted task.

Base model is pretrained on task A, then LoRA adapters on q_proj / v_proj are
fine-tuned on task B (a low-rank shift of task A).
"""
import logging
import math

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
logger = logging.getLogger("lora_ft")

mx.random.seed(7)
D_IN, D_H = 24, 48


class LoRALinear(nn.Module):
    def __init__(self, in_features, out_features, rank=4, alpha=8.0, bias=False):
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.rank = rank
        self.scale = alpha / max(rank, 1)
        self.weight = mx.zeros((out_features, in_features))
        self.bias = mx.zeros((out_features,)) if bias else None
        self.lora_a = mx.random.normal((rank, in_features)) * 0.01
        self.lora_b = mx.zeros((out_features, rank))

    def __call__(self, x):
        y = x @ self.weight.T
        if self.bias is not None:
            y = y + self.bias
        return y + ((x @ self.lora_a.T) @ self.lora_b.T) * self.scale

    @classmethod
    def from_linear(cls, linear, rank, alpha):
        out_f, in_f = linear.weight.shape
        has_bias = "bias" in linear
        lora = cls(in_f, out_f, rank=rank, alpha=alpha, bias=has_bias)
        lora.weight = linear.weight
        if has_bias:
            lora.bias = linear.bias
        return lora


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.q_proj = nn.Linear(D_IN, D_H)
        self.v_proj = nn.Linear(D_IN, D_H)
        self.o_proj = nn.Linear(D_H, 1)

    def __call__(self, x):
        gate = mx.sigmoid(self.q_proj(x))
        return self.o_proj(gate * self.v_proj(x)).squeeze(-1)


def apply_lora_to_model(model, rank=4, alpha=8.0, targets=("q_proj", "v_proj")):
    for name in targets:
        setattr(model, name, LoRALinear.from_linear(getattr(model, name), rank, alpha))
    return model


def load_model_for_training(model, lora=True):
    if lora:
        logger.info("Injecting LoRA adapters (rank=%d)", 4)
        model = apply_lora_to_model(model)

        # Freeze base weights
        model.freeze()

        # Unfreeze LoRA weights
        for name, module in model.named_modules():
            if "lora" in name.lower():
                module.unfreeze()

        flat = tree_flatten(model.parameters())
        n_all = sum(p.size for _, p in flat)
        n_lora = sum(p.size for n, p in flat if "lora" in n.lower())
        logger.info("LoRA: ~%d trainable parameters (%.2f%% of %d total)", n_lora, 100.0 * n_lora / n_all, n_all)
    return model


def make_task(key_w, n):
    x = mx.random.normal((n, D_IN))
    y = mx.tanh(x @ key_w) .sum(axis=-1)
    return x, y


# ---- stage 1: pretrain the base model on task A ----
W_A = mx.random.normal((D_IN, 3)) * 0.4
shift = (mx.random.normal((D_IN, 1)) @ mx.random.normal((1, 3))) * 0.35
W_B = W_A + shift
xa, ya = make_task(W_A, 2048)
xb, yb = make_task(W_B, 2048)
xb_val, yb_val = make_task(W_B, 512)

base = Block()
mx.eval(base.parameters())


def mse(m, x, y):
    return nn.losses.mse_loss(m(x), y)


pre_opt = optim.Adam(learning_rate=3e-3)
pre_step = nn.value_and_grad(base, mse)
for it in range(1500):
    idx = mx.random.randint(0, xa.shape[0], (128,))
    loss, g = pre_step(base, xa[idx], ya[idx])
    pre_opt.update(base, g)
    mx.eval(base.parameters(), pre_opt.state, loss)
logger.info("pretrain done: taskA mse=%.4f  taskB mse (before ft)=%.4f",
            mse(base, xa, ya).item(), mse(base, xb_val, yb_val).item())

# ---- stage 2: LoRA fine-tune on task B ----
model = load_model_for_training(base, lora=True)
opt = optim.AdamW(learning_rate=3e-3, weight_decay=0.0)
step = nn.value_and_grad(model, mse)
base_val = mse(model, xb_val, yb_val).item()
for it in range(1, 1201):
    idx = mx.random.randint(0, xb.shape[0], (128,))
    loss, g = step(model, xb[idx], yb[idx])
    opt.update(model, g)
    mx.eval(model.parameters(), opt.state, loss)
    if it % 150 == 0:
        val = mse(model, xb_val, yb_val).item()
        logger.info("ft step %d train_mse=%.4f val_mse=%.4f (base %.4f, rel %.1f%%)",
                    it, loss.item(), val, base_val, 100.0 * val / base_val)
final = mse(model, xb_val, yb_val).item()
logger.info("finished: val_mse %.4f -> %.4f", base_val, final)
