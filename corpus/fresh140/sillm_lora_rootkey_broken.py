# Tiny LoRA fine-tune in the SiLLM style: names are stamped on modules, LoRA is
# applied to the query/value projections of *all* layers (num_layers=0).
import math, re, time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_unflatten, tree_flatten

mx.random.seed(7)
VOCAB, DIM, HEADS, NLAYERS, SEQ = 32, 48, 4, 2, 12


class LoRALinear(nn.Module):
    @staticmethod
    def from_linear(linear, rank=8, alpha=16, dropout=0.0, scale=10.0):
        out_d, in_d = linear.weight.shape
        lin = LoRALinear(in_d, out_d, rank, alpha, dropout, scale)
        lin.linear = linear
        return lin

    def __init__(self, in_d, out_d, rank=8, alpha=16, dropout=0.0, scale=10.0):
        super().__init__()
        self.linear = nn.Linear(in_d, out_d, bias=False)
        self.dropout = nn.Dropout(p=dropout)
        self.scale = scale * (alpha / rank) / 10.0
        bound = 1 / math.sqrt(in_d)
        self.lora_a = mx.random.uniform(-bound, bound, (in_d, rank))
        self.lora_b = mx.zeros((rank, out_d))

    @property
    def lora_size(self):
        return self.lora_a.size + self.lora_b.size

    def __call__(self, x):
        y = self.linear(x)
        z = (self.dropout(x) @ self.lora_a) @ self.lora_b
        return y + self.scale * z


class Attention(nn.Module):
    def __init__(self):
        super().__init__()
        self.wq = nn.Linear(DIM, DIM, bias=False)
        self.wk = nn.Linear(DIM, DIM, bias=False)
        self.wv = nn.Linear(DIM, DIM, bias=False)
        self.wo = nn.Linear(DIM, DIM, bias=False)

    def __call__(self, x, mask):
        B, L, _ = x.shape
        q, k, v = (t.reshape(B, L, HEADS, -1).transpose(0, 2, 1, 3) for t in (self.wq(x), self.wk(x), self.wv(x)))
        o = mx.fast.scaled_dot_product_attention(q, k, v, scale=(DIM // HEADS) ** -0.5, mask=mask)
        return self.wo(o.transpose(0, 2, 1, 3).reshape(B, L, DIM))


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.attention = Attention()
        self.attention_norm = nn.RMSNorm(DIM)
        self.ffn_norm = nn.RMSNorm(DIM)
        self.w1 = nn.Linear(DIM, 2 * DIM, bias=False)
        self.w2 = nn.Linear(2 * DIM, DIM, bias=False)

    def __call__(self, x, mask):
        x = x + self.attention(self.attention_norm(x), mask)
        return x + self.w2(nn.gelu(self.w1(self.ffn_norm(x))))


class TinyLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.tok_embeddings = nn.Embedding(VOCAB, DIM)
        self.layers = [Block() for _ in range(NLAYERS)]
        self.norm = nn.RMSNorm(DIM)
        self.output = nn.Linear(DIM, VOCAB, bias=False)

    def __call__(self, x):
        mask = nn.MultiHeadAttention.create_additive_causal_mask(x.shape[1])
        h = self.tok_embeddings(x)
        for l in self.layers:
            h = l(h, mask)
        return self.output(self.norm(h))


class TrainableLoRA:
    def __init__(self, model):
        self.model = model
        for name, module in self.model.named_modules():   # _update_names()
            module._name = name
        self._lora = None
        self._lora_modules = []

    def init_lora(self, num_layers=0, target_modules="query_value", rank=8, alpha=16, dropout=0.0, scale=10.0):
        self.model.freeze()

        def get_modules(module):
            for key, child in module.named_modules():
                if isinstance(child, nn.Linear):
                    key = module._name + "." + key
                    if target_modules == "all_linear":
                        yield key, LoRALinear.from_linear(child, rank=rank, alpha=alpha, dropout=dropout, scale=scale)
                    elif target_modules == "query_value" and re.search(r"\.attention\.(wq|wv|wqkv)$", key):
                        yield key, LoRALinear.from_linear(child, rank=rank, alpha=alpha, dropout=dropout, scale=scale)

        if num_layers > 0:
            self._lora_modules = []
            for layer in self.model.layers[-num_layers:]:
                self._lora_modules.extend(get_modules(layer))
        else:
            self._lora_modules = list(get_modules(self.model))
        if len(self._lora_modules) == 0:
            print("ERROR no target modules found for LoRA")
        self.model.update_modules(tree_unflatten(self._lora_modules))
        self._lora = dict(num_layers=num_layers, rank=rank, alpha=alpha)
        self.model.train(True)
        n = sum(m.lora_size for _, m in self._lora_modules)
        print(f"[lora] {len(self._lora_modules)} target modules, {n/1e3:.1f}K trainable params")


# ---- "pretrained" base: a few quick steps on task A (shift-by-1), then LoRA on task B (shift-by-3)
def batch(shift, n=32):
    x = mx.random.randint(0, VOCAB, (n, SEQ))
    return x, (x + shift) % VOCAB

base = TinyLM()
mx.eval(base.parameters())
opt0 = optim.Adam(learning_rate=3e-3)
def ce(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")
vg0 = nn.value_and_grad(base, ce)
for i in range(60):
    x, y = batch(1)
    l, g = vg0(base, x, y)
    opt0.update(base, g)
    mx.eval(base.parameters(), opt0.state, l)
print(f"[base] pretrain loss {l.item():.3f}")

llm = TrainableLoRA(base)
llm.init_lora(num_layers=0, target_modules="query_value", rank=8)

model = llm.model
ntrain = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
print(f"[lora] model reports {ntrain} trainable params")
opt = optim.Adam(learning_rate=1e-2)
vg = nn.value_and_grad(model, ce)
t0 = time.time()
for it in range(1, 201):
    x, y = batch(3)
    loss, grads = vg(model, x, y)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if it == 1 or it % 20 == 0:
        gn = math.sqrt(sum((g * g).sum().item() for _, g in tree_flatten(grads)))
        print(f"Iter {it:3d}: Train loss {loss.item():.3f}, grad norm {gn:.3f}, It/sec {it/(time.time()-t0):.1f}")
x, y = batch(3, 256)
acc = (model(x).argmax(-1) == y).mean().item()
print(f"[eval] shift-3 token accuracy {100*acc:.1f}%")
