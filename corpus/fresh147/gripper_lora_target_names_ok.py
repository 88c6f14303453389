# LoRA fine-tune of a tiny vision-language-action policy on a new gripper.
# Base policy is frozen; only LoRA adapters on the attention projections train.
import math
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(7)

ACT_DIM, D, N_PATCH, N_TOK, VOCAB = 4, 32, 6, 5, 40


class LoRALayer(nn.Module):
    def __init__(self, base_layer, rank=4, alpha=8.0):
        super().__init__()
        self.base_layer = base_layer
        self.scaling = alpha / rank
        out_dim, in_dim = base_layer.weight.shape
        self.lora_A = nn.Linear(in_dim, rank, bias=False)
        self.lora_B = nn.Linear(rank, out_dim, bias=False)
        s = 1.0 / math.sqrt(in_dim)
        self.lora_A.weight = mx.random.uniform(-s, s, (rank, in_dim))
        self.lora_B.weight = mx.zeros((out_dim, rank))

    def __call__(self, x):
        return self.base_layer(x) + self.lora_B(self.lora_A(x)) * self.scaling


def apply_lora(model, rank=4, alpha=8.0, target_modules=None):
    replacements = []
    for name, module in model.named_modules():
        if not isinstance(module, nn.Linear):
            continue
        if target_modules is None or any(tm in name for tm in target_modules):
            replacements.append((name, module))
    for name, module in replacements:
        parts = name.split(".")
        parent = model
        for part in parts[:-1]:
            parent = getattr(parent, part)
        setattr(parent, parts[-1], LoRALayer(module, rank=rank, alpha=alpha))
    return model


class TinyVLA(nn.Module):
    def __init__(self):
        super().__init__()
        self.patch_proj = nn.Linear(12, D)
        self.tok_emb = nn.Embedding(VOCAB, D)
        self.fuse = nn.MultiHeadAttention(D, 4)
        self.norm = nn.LayerNorm(D)
        self.action_head = nn.Linear(D, ACT_DIM)

    def __call__(self, patches, tokens):
        v = self.patch_proj(patches)            # B, P, D
        q = self.tok_emb(tokens)                # B, T, D
        h = self.fuse(q, v, v)                  # language attends to vision
        h = self.norm(h + q).mean(axis=1)
        return mx.tanh(self.action_head(h))


def make_episodes(teacher, n):
    patches = mx.random.normal((n, N_PATCH, 12))
    tokens = mx.random.randint(0, VOCAB, (n, N_TOK))
    actions = teacher(patches, tokens)
    return patches, tokens, mx.stop_gradient(actions)


# "pretrained" base policy and the new-gripper teacher (base + low-rank shift)
base_weights = TinyVLA().parameters()
policy = TinyVLA()
policy.update(base_weights)
teacher = TinyVLA()
teacher.update(base_weights)
for proj in (teacher.fuse.query_proj, teacher.fuse.value_proj):
    u = mx.random.normal((D, 2)) * 0.6
    w = mx.random.normal((2, D)) * 0.6
    proj.weight = proj.weight + u @ w
mx.eval(policy.parameters(), teacher.parameters())

train = make_episodes(teacher, 1024)
val = make_episodes(teacher, 128)

policy.freeze()
target_modules = ["query_proj", "value_proj"]
policy = apply_lora(policy, rank=4, alpha=8.0, target_modules=target_modules)
n_train = sum(v.size for _, v in __import__("mlx.utils").utils.tree_flatten(policy.trainable_parameters()))
print(f"trainable params: {n_train}")


def loss_fn(model, patches, tokens, actions):
    return mx.mean((model(patches, tokens) - actions) ** 2)


loss_and_grad = nn.value_and_grad(policy, loss_fn)
opt = optim.Adam(learning_rate=3e-3)
BS = 32
for epoch in range(1, 26):
    perm = mx.random.permutation(train[0].shape[0])
    tot = 0.0
    nb = 0
    for i in range(0, train[0].shape[0], BS):
        idx = perm[i:i + BS]
        loss, grads = loss_and_grad(policy, train[0][idx], train[1][idx], train[2][idx])
        opt.update(policy, grads)
        mx.eval(policy.parameters(), opt.state, loss)
        tot += loss.item()
        nb += 1
    vloss = loss_fn(policy, *val).item()
    print(f"epoch {epoch:2d} | train mse {tot / nb:.5f} | val mse {vloss:.5f}")
