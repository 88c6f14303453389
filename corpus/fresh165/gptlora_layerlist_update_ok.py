# Tiny GPT-style LM with LoRA adapters; model overrides update() to walk "layers".
import math
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(3)
VOCAB, DIM, CTX, NLAYER = 32, 48, 16, 2


class LoRALinear(nn.Module):
    def __init__(self, base: nn.Linear, r=4, alpha=8.0):
        super().__init__()
        out_d, in_d = base.weight.shape
        self.base = base
        self.lora_a = mx.random.normal((in_d, r)) * (1.0 / math.sqrt(in_d))
        self.lora_b = mx.zeros((r, out_d))
        self.scale = alpha / r

    def __call__(self, x):
        return self.base(x) + (x @ self.lora_a @ self.lora_b) * self.scale


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln_1 = nn.LayerNorm(DIM)
        self.ln_2 = nn.LayerNorm(DIM)
        self.attn = nn.MultiHeadAttention(DIM, 4)
        self.mlp_in = nn.Linear(DIM, 4 * DIM)
        self.mlp_out = nn.Linear(4 * DIM, DIM)

    def __call__(self, x, mask):
        h = self.ln_1(x)
        x = x + self.attn(h, h, h, mask)
        return x + self.mlp_out(nn.gelu(self.mlp_in(self.ln_2(x))))


class TinyGPT(nn.Module):
    def __init__(self):
        super().__init__()
        self.wte = nn.Embedding(VOCAB, DIM)
        self.wpe = nn.Embedding(CTX, DIM)
        self.layers = [Block() for _ in range(NLAYER)]
        self.ln_f = nn.LayerNorm(DIM)
        self.lm_head = nn.Linear(DIM, VOCAB)

    def __call__(self, ids):
        T = ids.shape[1]
        x = self.wte(ids) + self.wpe(mx.arange(T))
        mask = nn.MultiHeadAttention.create_additive_causal_mask(T)
        for layer in self.layers:
            x = layer(x, mask)
        return self.lm_head(self.ln_f(x))

    def update(self, parameters: dict):
        """Custom update method to handle list-based layers."""
        layer_params = {}
        top_level_params = {}
        for key, value in parameters.items():
            if key == "layers":
                layer_params = value
            else:
                top_level_params[key] = value

        if top_level_params:
            super().update(top_level_params)

        # Update each layer individually from the nested dictionary or list
        if layer_params:
            if isinstance(layer_params, dict):
                for i, layer_weights in layer_params.items():
                    layer_index = int(i)
                    if layer_index < len(self.layers):
                        self.layers[layer_index].update(layer_weights)
            elif isinstance(layer_params, list):
                for layer_index, layer_weights in enumerate(layer_params):
                    if layer_index < len(self.layers) and isinstance(layer_weights, dict):
                        self.layers[layer_index].update(layer_weights)
        return self


def add_lora(model):
    model.freeze()
    for blk in model.layers:
        blk.mlp_in = LoRALinear(blk.mlp_in)
        blk.mlp_out = LoRALinear(blk.mlp_out)
        blk.mlp_in.base.freeze()
        blk.mlp_out.base.freeze()


def make_batch(bs):
    # sequences follow a fixed rule: next = (3 * prev + 1) mod VOCAB
    start = mx.random.randint(0, VOCAB, (bs, 1))
    seq = [start]
    for _ in range(CTX):
        seq.append((seq[-1] * 3 + 1) % VOCAB)
    seq = mx.concatenate(seq, axis=1)
    return seq[:, :-1], seq[:, 1:]


model = TinyGPT()
add_lora(model)
n_train = sum(v.size for _, v in __import__("mlx.utils", fromlist=["tree_flatten"]).tree_flatten(model.trainable_parameters()))
print(f"trainable params: {n_train}")

opt = optim.Adam(learning_rate=3e-3)


def loss_fn(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")


step_fn = nn.value_and_grad(model, loss_fn)

for it in range(1, 201):
    x, y = make_batch(16)
    loss, grads = step_fn(model, x, y)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if it % 20 == 0 or it == 1:
        print(f"Iter {it}: train loss {loss.item():.4f}")
print("done")
