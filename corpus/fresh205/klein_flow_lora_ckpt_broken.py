# LoRA fine-tune of a tiny flow-matching "transformer" with layer-wise
# gradient checkpointing (each block's forward is recomputed in backward).
import time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

mx.random.seed(7)
DIM, TOK, NBLK, RANK = 32, 16, 4, 4


class LoRALinear(nn.Module):
    def __init__(self, din, dout, rank):
        super().__init__()
        self.base = nn.Linear(din, dout)
        self.lora_a = mx.random.normal((din, rank)) * (1.0 / din ** 0.5)
        self.lora_b = mx.zeros((rank, dout))

    def __call__(self, x):
        return self.base(x) + 2.0 * ((x @ self.lora_a) @ self.lora_b)


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.norm = nn.LayerNorm(DIM)
        self.qkv = LoRALinear(DIM, 3 * DIM, RANK)
        self.out = LoRALinear(DIM, DIM, RANK)
        self.ff1 = LoRALinear(DIM, 2 * DIM, RANK)
        self.ff2 = nn.Linear(2 * DIM, DIM)

    def __call__(self, h):
        q, k, v = mx.split(self.qkv(self.norm(h)), 3, axis=-1)
        a = mx.softmax(q @ k.transpose(0, 2, 1) / DIM ** 0.5, axis=-1) @ v
        h = h + self.out(a)
        return h + self.ff2(nn.gelu(self.ff1(h)))


class FlowNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.t_emb = nn.Linear(1, DIM)
        self.blocks = [Block() for _ in range(NBLK)]
        self.head = nn.Linear(DIM, DIM)
        self.gradient_checkpointing = True

    def __call__(self, x, t):
        h = x + self.t_emb(t[:, None, None] * mx.ones((x.shape[0], 1, 1)))
        for blk in self.blocks:
            if self.gradient_checkpointing:
                h = mx.checkpoint(lambda z, blk=blk: blk(z))(h)
            else:
                h = blk(h)
        return self.head(h)


model = FlowNet()
model.freeze()
for blk in model.blocks:
    for lin in (blk.qkv, blk.out, blk.ff1):
        lin.unfreeze(keys=["lora_a", "lora_b"], recurse=False)
n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
print(f"trainable params: {n_train}")

# "style" target: data are a fixed set of token layouts with a shifted mean
proto = mx.random.normal((8, TOK, DIM)) * 0.5 + 1.5


def flow_loss(model, x1, x0, t):
    xt = (1 - t)[:, None, None] * x0 + t[:, None, None] * x1
    v = model(xt, t)
    return mx.mean((v - (x1 - x0)) ** 2)


opt = optim.AdamW(learning_rate=3e-3, weight_decay=0.0)
step = nn.value_and_grad(model, flow_loss)
t0 = time.time()
for it in range(1, 301):
    idx = mx.random.randint(0, 8, (16,))
    x1 = proto[idx]
    x0 = mx.random.normal(x1.shape)
    t = mx.random.uniform(shape=(16,))
    loss, grads = step(model, x1, x0, t)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if it % 25 == 0:
        gn = sum(mx.sum(g * g).item() for _, g in tree_flatten(grads)) ** 0.5
        print(f"Iter {it}: Train loss {loss.item():.4f}, grad norm {gn:.3e}, "
              f"It/sec {it / (time.time() - t0):.1f}")
lb = sum(mx.abs(v).sum().item() for k, v in tree_flatten(model.trainable_parameters()) if k.endswith("lora_b"))
print(f"done: sum|lora_b| = {lb:.4f}")
