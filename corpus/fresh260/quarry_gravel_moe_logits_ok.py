# Mixture-of-experts image classifier (flattened 24x24 RGB tiles, raw 0-255 pixels, 10 classes).
# Gate / experts / losses follow the simple_moes package layout.
import time
from typing import List, Optional, Type, Union

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as opt


# ---------------- gate.py ----------------
def softmax_with_temperature(logits: mx.array, temperature: float, axis=-1) -> mx.array:
    if temperature <= 0:
        raise ValueError("Temperature must be greater than 0.")
    type_logits = logits.dtype
    logits = (logits / mx.array(temperature)).astype(mx.float32)
    return mx.softmax(logits, axis=axis).astype(type_logits)


def log_softmax(x: mx.array, temperature: float, axis=-1) -> mx.array:
    if temperature <= 0:
        raise ValueError("Temperature must be greater than 0.")
    x_type = x.dtype
    x = (x / temperature).astype(mx.float32)
    x_max = mx.max(x, axis=axis, keepdims=True)
    x_exp = mx.exp(x - x_max)
    x_exp_sum = mx.sum(x_exp, axis=axis, keepdims=True)
    return (x - x_max - mx.log(x_exp_sum))


def topk_routing(probs: mx.array, k: int):
    probs = probs.astype(mx.float32)
    idx_sorted = mx.argsort(probs, axis=-1)
    topk_idx = idx_sorted[:, -k:]
    topk_idx = mx.stop_gradient(topk_idx)
    B, N = probs.shape
    mask = mx.zeros((B, N), dtype=probs.dtype)
    rows = mx.arange(B).reshape(-1, 1)
    mask[rows, topk_idx] = 1.0
    mask = mx.stop_gradient(mask)
    masked = probs * mask
    norm = masked / (mx.sum(masked, axis=-1, keepdims=True) + 1e-9)
    return norm.astype(probs.dtype), mask.astype(probs.dtype)


class TopKGate(nn.Module):
    def __init__(self, data_dim: int, num_experts: int, k: int = 2, temperature: float = 1.0):
        super().__init__()
        self.fc = nn.Linear(data_dim, num_experts)
        self.k = k
        self.temperature = temperature

    def __call__(self, x):
        logits = self.fc(x)
        probs = softmax_with_temperature(logits, self.temperature, axis=-1)
        return topk_routing(probs, self.k)


# ---------------- losses.py ----------------
def cross_entropy(logits: mx.array, targets: mx.array) -> mx.array:
    log_probs = log_softmax(logits, temperature=1.0, axis=-1)
    idx = targets.astype(mx.int32).reshape(-1, 1)
    picked = mx.take_along_axis(log_probs, idx, axis=1)
    return (-picked).mean()


def balance_loss(probs: mx.array, mask: Optional[mx.array], coeff: float) -> mx.array:
    probs = probs.astype(mx.float32)
    if mask is not None:
        masked = probs * mask
        probs = masked / (mx.sum(masked, axis=-1, keepdims=True) + 1e-9)
    probs = mx.clip(probs, 1e-9, 1.0)
    ent = -mx.sum(probs * mx.log(probs), axis=-1).mean()
    return -coeff * ent


def accuracy(logits: mx.array, targets: mx.array) -> float:
    preds = mx.argmax(logits, axis=-1)
    return float((preds == targets).astype(mx.float32).mean())


# ---------------- experts.py / heads.py / moes.py ----------------
class MLPExpert(nn.Module):
    def __init__(self, input_dim: int, hidden_dim: int, output_dim: int, num_layers: int = 2):
        super().__init__()
        sizes = [input_dim] + [hidden_dim] * num_layers + [output_dim]
        self.layers = [nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:])]
        self.activation = nn.ReLU()

    def __call__(self, x):
        for layer in self.layers[:-1]:
            x = self.activation(layer(x))
        return self.layers[-1](x)


class ClassificationHead(nn.Module):
    def __init__(self, input_dim: int, num_classes: int):
        super().__init__()
        self.fc = nn.Sequential(nn.ReLU(), nn.Linear(input_dim, num_classes))

    def __call__(self, x):
        return self.fc(x)


class MoElayer(nn.Module):
    def __init__(self, experts: List[nn.Module], gate_fn: nn.Module, entropy_coeff: float):
        super().__init__()
        self.expert_layers = experts
        self.gate = gate_fn
        self.coeff = entropy_coeff

    def __call__(self, x, return_balance: bool = False):
        probs, mask = self.gate(x)
        mask = mx.stop_gradient(mask)
        if return_balance:
            ba = balance_loss(probs, mask, self.coeff)
        probs = probs[..., None]
        outs = mx.stack([e(x) for e in self.expert_layers], axis=-2)
        y = mx.sum(outs * probs, axis=-2)
        if return_balance:
            return y, ba
        return y


class GenericMoE(nn.Module):
    def __init__(self, dim_input, dim_model, dim_output, num_experts, dim_hidden,
                 entropy_coeff, k=2, temperature=1.0):
        super().__init__()
        self.input_layer = nn.Sequential(nn.ReLU(), nn.Linear(dim_input, dim_model))
        self.gate = TopKGate(dim_model, num_experts, k=k, temperature=temperature)
        experts = [MLPExpert(dim_model, dim_hidden, dim_model, num_layers=1) for _ in range(num_experts)]
        self.moelayer = MoElayer(experts, self.gate, entropy_coeff)
        self.head = ClassificationHead(dim_model, dim_output)

    def __call__(self, x, return_balance: bool = False):
        x = self.input_layer(x)
        if return_balance:
            x, balance = self.moelayer(x, return_balance=True)
            return self.head(x), balance
        return self.head(self.moelayer(x))


# ---------------- trains.py / tools.py ----------------
def train_step_classification(model, optimizer, x, y, aux_weight=1.0):
    def loss_aux():
        logits, aux = model(x, return_balance=True)
        ce_loss = cross_entropy(logits, y) + aux_weight * aux
        return ce_loss, (logits, aux)

    (ce_loss, (logits, aux)), grads = nn.value_and_grad(model, loss_aux)()
    optimizer.update(model, grads)
    mx.eval(model.parameters(), optimizer.state)
    return ce_loss.item(), accuracy(logits, y), aux.item()


def batch_iter(x, y, batch_size=256, shuffle=True):
    n = x.shape[0]
    idx = np.arange(n)
    if shuffle:
        np.random.shuffle(idx)
    for s in range(0, n, batch_size):
        b = mx.array(idx[s:s + batch_size])
        yield x[b], y[b]


def evaluate_moe(model, x, y, batch_size=512):
    model.train(False)
    tl, ta, n = 0.0, 0.0, 0
    for xb, yb in batch_iter(x, y, batch_size, shuffle=False):
        logits = model(xb, return_balance=False)
        tl += cross_entropy(logits, yb).item()
        ta += accuracy(logits, yb)
        n += 1
    return tl / max(n, 1), ta / max(n, 1)


# ---------------- synthetic tiles ----------------
def make_tiles(n_per_class, templates, rng, noise=0.9):
    C = templates.shape[0]
    ys = np.repeat(np.arange(C), n_per_class)
    xs = templates[ys] + noise * rng.standard_normal((ys.size,) + templates.shape[1:]).astype(np.float32)
    return xs.astype(np.float32), ys.astype(np.int64)


def main():
    np.random.seed(42)
    mx.random.seed(42)
    rng = np.random.default_rng(7)
    H = W = 24
    num_classes = 10
    templates = rng.uniform(0.0, 1.0, (num_classes, H, W, 3)).astype(np.float32)
    Xtr, ytr = make_tiles(120, templates, rng)
    Xte, yte = make_tiles(40, templates, rng)
    Xtr = np.clip(Xtr * 255.0, 0, 255).round()
    Xte = np.clip(Xte * 255.0, 0, 255).round()
    Xtr = mx.array(Xtr.reshape(len(Xtr), -1))
    Xte = mx.array(Xte.reshape(len(Xte), -1))
    ytr, yte = mx.array(ytr), mx.array(yte)
    print(f"train {Xtr.shape} test {Xte.shape} classes {num_classes}")

    model = GenericMoE(dim_input=Xtr.shape[-1], dim_model=128, dim_output=num_classes,
                       num_experts=4, dim_hidden=64, entropy_coeff=1e-2, k=2)
    mx.eval(model.parameters())
    optimizer = opt.Adam(learning_rate=1e-4)

    num_epochs = 10
    t0 = time.time()
    for epoch in range(num_epochs):
        model.train(True)
        losses = []
        for xb, yb in batch_iter(Xtr, ytr, batch_size=128, shuffle=True):
            loss_val, acc_val, aux_val = train_step_classification(model, optimizer, xb, yb, aux_weight=1e-2)
            losses.append(loss_val)
        tr_loss, tr_acc = evaluate_moe(model, Xtr, ytr)
        te_loss, te_acc = evaluate_moe(model, Xte, yte)
        print(f"Epoch {epoch + 1}/{num_epochs}: step loss={np.mean(losses):.4f} aux={aux_val:.4f} | "
              f"Train Loss={tr_loss:.4f} Acc={tr_acc:.4f} | Test Loss={te_loss:.4f} Acc={te_acc:.4f}")
    print(f"done in {time.time() - t0:.1f}s, final test acc {te_acc:.4f}")


main()
