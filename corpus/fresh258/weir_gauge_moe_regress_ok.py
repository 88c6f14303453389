# Weir gauge stage forecast: top-2 mixture-of-experts regressor (MLX).
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from typing import Optional, Union


def softmax_with_temperature(logits: mx.array, temperature: float, axis=-1) -> mx.array:
    type_logits = logits.dtype
    logits = (logits / mx.array(temperature)).astype(mx.float32)
    return mx.softmax(logits, axis=axis).astype(type_logits)


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


def mse_loss(pred: mx.array, target: mx.array) -> mx.array:
    pred = pred.reshape(-1)
    target = target.reshape(-1).astype(pred.dtype)
    return ((pred - target) ** 2).mean()


def balance_loss(probs: mx.array, mask: Optional[mx.array], coeff: float) -> mx.array:
    probs = probs.astype(mx.float32)
    if mask is not None:
        masked = probs * mask
        probs = masked / (mx.sum(masked, axis=-1, keepdims=True) + 1e-9)
    probs = mx.clip(probs, 1e-9, 1.0)
    ent = -mx.sum(probs * mx.log(probs), axis=-1).mean()
    return -coeff * ent


class MoELayer(nn.Module):
    def __init__(self, dim: int, num_experts: int, hidden: int, coeff: float, k: int):
        super().__init__()
        self.gate = TopKGate(dim, num_experts, k=k)
        self.expert_layers = [MLPExpert(dim, hidden, dim) for _ in range(num_experts)]
        self.coeff = coeff

    def __call__(self, x, return_balance=False):
        probs, mask = self.gate(x)
        ba = balance_loss(probs, mask, self.coeff)
        outs = mx.stack([e(x) for e in self.expert_layers], axis=-2)
        y = mx.sum(outs * probs[..., None], axis=-2)
        return (y, ba) if return_balance else y


class MoERegressor(nn.Module):
    def __init__(self, dim_in, dim_model, num_experts, hidden, coeff, k=2):
        super().__init__()
        self.input_layer = nn.Linear(dim_in, dim_model)
        self.moelayer = MoELayer(dim_model, num_experts, hidden, coeff, k)
        self.head = nn.Linear(dim_model, 1)

    def __call__(self, x, return_balance=False):
        h = nn.relu(self.input_layer(x))
        h, ba = self.moelayer(h, return_balance=True)
        out = self.head(h)
        return (out, ba) if return_balance else out


def make_gauge_data(n, rng):
    # upstream rainfall, soil moisture, snowmelt, hour-of-day phase, sluice opening
    x = rng.uniform(-1.0, 1.0, size=(n, 5)).astype(np.float32)
    wet = x[:, 1] > 0.0
    stage = np.where(wet, 1.6 * x[:, 0] + 0.8 * x[:, 2] ** 2, 0.4 * x[:, 0] - 0.9 * x[:, 4])
    stage = stage + 0.35 * np.sin(3.0 * x[:, 3]) + 0.03 * rng.standard_normal(n)
    return x, stage.astype(np.float32).reshape(-1, 1)


def main():
    rng = np.random.default_rng(7)
    mx.random.seed(7)
    xtr, ytr = make_gauge_data(2048, rng)
    xva, yva = make_gauge_data(512, rng)
    Xtr, Ytr, Xva, Yva = map(mx.array, (xtr, ytr, xva, yva))

    model = MoERegressor(5, 32, num_experts=4, hidden=48, coeff=0.01, k=2)
    opt = optim.Adam(learning_rate=3e-3)
    aux_weight = 1.0

    def loss_aux(xb, yb):
        preds, aux = model(xb, return_balance=True)
        mse = mse_loss(preds, yb)
        return mse + aux_weight * aux, (mse, aux)

    vg = nn.value_and_grad(model, loss_aux)
    base_rmse = float(np.sqrt(np.mean((yva - ytr.mean()) ** 2)))
    print(f"val rmse of constant predictor (train mean): {base_rmse:.4f}")

    bs = 64
    t0 = time.time()
    for epoch in range(1, 31):
        perm = rng.permutation(len(xtr))
        tot, totaux, nb = 0.0, 0.0, 0
        for i in range(0, len(perm), bs):
            idx = mx.array(perm[i:i + bs])
            (loss, (mse, aux)), grads = vg(Xtr[idx], Ytr[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state)
            tot += mse.item(); totaux += aux.item(); nb += 1
        if epoch % 3 == 0 or epoch == 1:
            val_mse = mse_loss(model(Xva), Yva).item()
            print(f"epoch {epoch:2d}  train mse {tot / nb:.4f}  aux {totaux / nb:+.4f}  "
                  f"val rmse {np.sqrt(val_mse):.4f}  (baseline {base_rmse:.4f})")
    pred = np.array(model(Xva)).reshape(-1)
    corr = float(np.corrcoef(pred, yva.reshape(-1))[0, 1])
    print(f"final val rmse {np.sqrt(mse_loss(model(Xva), Yva).item()):.4f}  corr {corr:.3f}  "
          f"pred std {pred.std():.4f} vs target std {yva.std():.4f}  time {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
