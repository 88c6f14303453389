# GRPO-style QLoRA fine-tune of a small 4-bit "pretrained" policy on a toy move-scoring task.
import time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

mx.random.seed(3)
D, H, A = 32, 96, 9          # board features, hidden, 9 moves


class LoRALinear(nn.Module):
    def __init__(self, base, rank=8, scale=4.0):
        super().__init__()
        self.base = base
        out_dims, in_dims = base.weight.shape[0], base.weight.shape[1] * 32 // base.bits
        self.scale = scale
        self.lora_a = mx.random.normal((in_dims, rank)) * (1.0 / in_dims ** 0.5)
        self.lora_b = mx.zeros((rank, out_dims))

    def __call__(self, x):
        return self.base(x) + self.scale * ((x @ self.lora_a) @ self.lora_b)


class Policy(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(D, H)
        self.l2 = nn.Linear(H, H)
        self.head = nn.Linear(H, A)

    def __call__(self, x):
        return self.head(nn.gelu(self.l2(nn.gelu(self.l1(x)))))


# "pretrained" base, then quantized to 4 bits and frozen
policy = Policy()
nn.quantize(policy, group_size=32, bits=4)
policy.freeze()
policy.l1 = LoRALinear(policy.l1)
policy.l2 = LoRALinear(policy.l2)
policy.head = LoRALinear(policy.head)
n_train = sum(p.size for _, p in tree_flatten(policy.trainable_parameters()))
print(f"trainable params: {n_train}")

# the reward: a hidden linear scorer picks the best move for each board
W_star = mx.random.normal((D, A))
boards = mx.random.normal((2048, D))
best = mx.argmax(boards @ W_star, axis=1)

optimizer = optim.AdamW(learning_rate=2e-3, weight_decay=0.0)


def loss_fn(model, x, y):
    logp = nn.log_softmax(model(x), axis=-1)
    return -mx.take_along_axis(logp, y[:, None], axis=1).mean()


t0 = time.time()
for step in range(1, 401):
    idx = mx.random.randint(0, boards.shape[0], (64,))
    x, y = boards[idx], best[idx]
    loss, grads = mx.value_and_grad(loss_fn)(policy, x, y)
    optimizer.update(policy, grads)
    mx.eval(policy.parameters(), optimizer.state)
    if step % 40 == 0:
        acc = (mx.argmax(policy(boards), axis=1) == best).mean().item()
        print(f"step {step:4d} | loss {loss.item():.4f} | move acc {acc:.3f} | {time.time()-t0:.1f}s")
