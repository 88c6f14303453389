# Tiny Gemma-4-style sparse MoE block fine-tuned on a synthetic token task.
# Router: RMSNorm -> scaled proj -> softmax, top-k via argpartition,
# renormalised top-k weights times a learned per-expert scale; experts via gather_mm.
import time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(7)
DIM, HID, N_EXP, TOP_K, VOCAB, SEQ, BATCH = 32, 64, 6, 2, 40, 12, 16


class Router(nn.Module):
    def __init__(self, dim, n_exp, k):
        super().__init__()
        self.k = k
        self.norm = nn.RMSNorm(dim)
        self.proj = nn.Linear(dim, n_exp, bias=False)
        self.scale = mx.ones((dim,))
        self.per_expert_scale = mx.ones((n_exp,))

    def __call__(self, x):
        h = self.norm(x) * self.scale * (x.shape[-1] ** -0.5)
        scores = self.proj(h)
        probs = mx.softmax(scores, axis=-1)
        top_k_indices = mx.argpartition(-scores, kth=self.k - 1, axis=-1)[..., : self.k]
        top_k_weights = mx.take_along_axis(probs, top_k_indices, axis=-1)
        top_k_weights = top_k_weights / top_k_weights.sum(axis=-1, keepdims=True)
        top_k_weights = top_k_weights * self.per_expert_scale[top_k_indices]
        return top_k_indices, top_k_weights


class Experts(nn.Module):
    def __init__(self, dim, hid, n_exp):
        super().__init__()
        s = dim ** -0.5
        self.w_in = mx.random.uniform(-s, s, (n_exp, dim, hid))
        self.w_out = mx.random.uniform(-hid ** -0.5, hid ** -0.5, (n_exp, hid, dim))

    def __call__(self, x, inds):
        # x: (T, dim), inds: (T, k)
        xe = mx.expand_dims(x, (-2, -3))  # (T, 1, 1, dim)
        h = mx.gather_mm(xe, self.w_in, rhs_indices=inds)  # (T, k, 1, hid)
        h = nn.gelu(h)
        y = mx.gather_mm(h, self.w_out, rhs_indices=inds)  # (T, k, 1, dim)
        return y.squeeze(-2)


class TinyMoELM(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, DIM)
        self.router = Router(DIM, N_EXP, TOP_K)
        self.experts = Experts(DIM, HID, N_EXP)
        self.norm = nn.RMSNorm(DIM)
        self.head = nn.Linear(DIM, VOCAB)

    def __call__(self, tokens):
        x = self.embed(tokens)
        B, L, D = x.shape
        flat = x.reshape(-1, D)
        inds, w = self.router(flat)
        y = self.experts(flat, inds)
        y = (y * w[..., None]).sum(axis=-2)
        h = (flat + y).reshape(B, L, D)
        return self.head(self.norm(h))


def make_batch():
    # next token = (3 * tok + 5) mod VOCAB, a learnable deterministic map
    start = mx.random.randint(0, VOCAB, (BATCH, 1))
    seq = [start]
    for _ in range(SEQ):
        seq.append((3 * seq[-1] + 5) % VOCAB)
    seq = mx.concatenate(seq, axis=1)
    return seq[:, :-1], seq[:, 1:]


model = TinyMoELM()
model.train()
opt = optim.AdamW(learning_rate=3e-3, weight_decay=0.0)


def loss_fn(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")


loss_and_grad = nn.value_and_grad(model, loss_fn)
t0 = time.time()
for it in range(1, 301):
    x, y = make_batch()
    loss, grads = loss_and_grad(model, x, y)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if it == 1 or it % 25 == 0:
        acc = (model(x).argmax(-1) == y).astype(mx.float32).mean().item()
        print(f"Iter {it}: Train loss {loss.item():.3f}, acc {acc:.3f}, "
              f"Learning Rate {opt.learning_rate.item():.3e}, took {time.time() - t0:.2f}s")
print("done")
