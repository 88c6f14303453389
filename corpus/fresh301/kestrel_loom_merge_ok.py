# Adapter tuning of a small intent tagger, then merging the adapters into plain Linear layers
# so the result can be exported without the adapter wrappers.
import math
import time
from typing import Union

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten


class LoRaLayer(nn.Module):
    def __init__(
        self,
        linear: Union[nn.Linear, nn.QuantizedLinear],
        rank: int,
        alpha: float = 0.1,
        dropout: float = 0.0,
    ):
        super().__init__()

        self.original_layer = linear

        self.dropout = nn.Dropout(p=dropout)

        output_dims, input_dims = linear.weight.shape
        if isinstance(linear, nn.QuantizedLinear):
            input_dims *= 32 // linear.bits

        std_dev = 1 / math.sqrt(rank)

        self.A = mx.random.uniform(
            low=-std_dev,
            high=std_dev,
            shape=(input_dims, rank),
        )
        self.B = mx.zeros((rank, output_dims))
        self.rank = rank
        self.alpha = alpha

    def __call__(self, x):
        y = self.original_layer(x)
        lora_update = (self.dropout(x) @ self.A) @ self.B
        scaling = self.alpha / self.rank
        return y + (scaling * lora_update).astype(x.dtype)


def replace_lora_with_linear(model):
    for i, layer in enumerate(model.layers):
        if isinstance(layer, LoRaLayer):
            # Compute the final merged weight
            scaling = layer.alpha / layer.rank
            lora_update = scaling * (layer.A @ layer.B)
            updated_weight = layer.original_layer.weight + lora_update
            use_bias = layer.original_layer.bias is not None

            updated_bias = layer.original_layer.bias

            # Create a new Linear layer with the updated parameters
            new_linear_layer = nn.Linear(
                updated_weight.shape[1], updated_weight.shape[0], bias=use_bias
            )

            new_linear_layer.weight = updated_weight

            if use_bias:
                new_linear_layer.bias = updated_bias

            if isinstance(layer.original_layer, nn.QuantizedLinear):
                new_linear_layer = nn.QuantizedLinear.from_linear(
                    new_linear_layer,
                    new_linear_layer.group_size,
                    new_linear_layer.bits,
                )

            # Replace the LoRaLayer with the new Linear layer in the model
            model.layers[i] = new_linear_layer


class Tagger(nn.Module):
    def __init__(self, dim_in=32, hidden=64, n_classes=6):
        super().__init__()
        self.inp = nn.Linear(dim_in, hidden)
        self.layers = [nn.Linear(hidden, hidden) for _ in range(3)]
        self.head = nn.Linear(hidden, n_classes)

    def __call__(self, x):
        h = nn.gelu(self.inp(x))
        for layer in self.layers:
            h = h + nn.gelu(layer(h))
        return self.head(h)


def make_data(rng, n, proj, centers):
    y = rng.integers(0, centers.shape[0], size=n)
    z = centers[y] + 0.6 * rng.standard_normal((n, centers.shape[1]))
    x = np.tanh(z @ proj)
    return mx.array(x.astype(np.float32)), mx.array(y.astype(np.int32))


def main():
    mx.random.seed(7)
    rng = np.random.default_rng(7)
    proj = rng.standard_normal((8, 32)) / np.sqrt(8)
    centers = 1.5 * rng.standard_normal((6, 8))
    x_tr, y_tr = make_data(rng, 4096, proj, centers)
    x_va, y_va = make_data(rng, 1024, proj, centers)

    model = Tagger()
    mx.eval(model.parameters())
    model.freeze()
    model.head.unfreeze()
    for i, layer in enumerate(model.layers):
        model.layers[i] = LoRaLayer(layer, rank=8, alpha=16.0)
    n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    n_all = sum(v.size for _, v in tree_flatten(model.parameters()))
    print(f"trainable params: {n_train} / {n_all}")

    def loss_fn(m, x, y):
        return nn.losses.cross_entropy(m(x), y, reduction="mean")

    def accuracy(m, x, y):
        return mx.mean(mx.argmax(m(x), axis=-1) == y).item()

    opt = optim.Adam(learning_rate=3e-3)
    step_fn = nn.value_and_grad(model, loss_fn)
    bs = 128
    t0 = time.time()
    step = 0
    for epoch in range(6):
        perm = np.random.default_rng(epoch).permutation(x_tr.shape[0])
        for s in range(0, x_tr.shape[0], bs):
            idx = mx.array(perm[s:s + bs])
            loss, grads = step_fn(model, x_tr[idx], y_tr[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            step += 1
            if step % 40 == 0:
                print(f"step {step:4d} | loss {loss.item():.4f}")
        print(f"epoch {epoch} | val loss {loss_fn(model, x_va, y_va).item():.4f} "
              f"| val acc {accuracy(model, x_va, y_va):.3f} | {time.time() - t0:.1f}s")

    print("merging adapters into the base layers ...")
    replace_lora_with_linear(model)
    kinds = [type(l).__name__ for l in model.layers]
    print(f"layers after merge: {kinds}")
    weights = dict(tree_flatten(model.parameters()))
    mx.save_safetensors("/tmp/kestrel_loom_merged.safetensors", weights)
    print(f"saved {len(weights)} tensors to /tmp/kestrel_loom_merged.safetensors")


if __name__ == "__main__":
    main()
