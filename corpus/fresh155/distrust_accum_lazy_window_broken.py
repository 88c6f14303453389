"""QLoRA-style fine-tune with an 'empirical distrust' term and gradient accumulation.
Tiny synthetic version of a train_qlora.py loop (token LM + per-sample authority/provenance)."""
import time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map

mx.random.seed(0)
VOCAB, SEQ, BATCH, HID = 64, 32, 16, 160
ITERS, GRAD_ACCUM = 64, 16
ALPHA, LAMBDA = 2.7, 0.05


class TinyLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, HID)
        self.l1 = nn.Linear(HID, 4 * HID)
        self.l2 = nn.Linear(4 * HID, HID)
        self.norm = nn.RMSNorm(HID)
        self.head = nn.Linear(HID, VOCAB)

    def __call__(self, x):
        h = self.embed(x)
        h = h + self.l2(nn.gelu(self.l1(h)))
        return self.head(self.norm(h))


def make_batch(step):
    key = mx.random.key(step)
    k1, k2, k3 = mx.random.split(key, 3)
    start = mx.random.randint(0, VOCAB, (BATCH, 1), key=k1)
    stride = mx.random.randint(1, 4, (BATCH, 1), key=k2)
    toks = (start + stride * mx.arange(SEQ)[None]) % VOCAB
    auth = mx.random.uniform(0.0, 0.9, (BATCH,), key=k3)
    prov = 1.0 + 4.0 * (1.0 - auth)
    lengths = mx.stack([mx.ones((BATCH,), mx.int32), mx.full((BATCH,), SEQ - 1, mx.int32)], axis=1)
    return toks.astype(mx.int32), lengths, auth, prov


def distrust_loss(model, batch, lengths, auth_weights, prov_entropies):
    inputs, targets = batch[:, :-1], batch[:, 1:]
    logits = model(inputs)
    steps = mx.arange(1, targets.shape[1] + 1)
    mask = mx.logical_and(steps >= lengths[:, 0:1], steps <= lengths[:, 1:])
    ce = nn.losses.cross_entropy(logits, targets) * mask
    ntoks = mask.sum()
    ce_loss = ce.astype(mx.float32).sum() / ntoks
    comp = mx.log(1.0 - auth_weights + 1e-8) + prov_entropies
    dist = mx.mean(ALPHA * mx.square(comp))
    return ce_loss + LAMBDA * dist, ntoks


model = TinyLM()
mx.eval(model.parameters())
optimizer = optim.AdamW(learning_rate=2e-3, weight_decay=0.01)
loss_value_and_grad = nn.value_and_grad(model, distrust_loss)
state = [model.state, optimizer.state]


def step(batch, lengths, auth, prov, prev_grad, do_update):
    (lvalue, toks), grad = loss_value_and_grad(model, batch, lengths, auth, prov)
    if prev_grad is not None:
        grad = tree_map(lambda x, y: x + y, grad, prev_grad)
    if do_update:
        grad = tree_map(lambda x: x / GRAD_ACCUM, grad)
        optimizer.update(model, grad)
        grad = None
    return lvalue, toks, grad


model.train()
losses = 0.0
n_tokens = 0
grad_accum = None
train_time = 0.0
mx.reset_peak_memory()
for it in range(1, ITERS + 1):
    tic = time.perf_counter()
    batch, lengths, auth, prov = make_batch(it)
    lvalue, toks, grad_accum = step(batch, lengths, auth, prov, grad_accum, it % GRAD_ACCUM == 0)

    # Evaluate to get actual values
    mx.eval(lvalue, toks)

    losses += lvalue.item()
    n_tokens += toks.item()
    train_time += time.perf_counter() - tic
    if it % 8 == 0:
        active = mx.get_active_memory() / 2**20
        peak = mx.get_peak_memory() / 2**20
        print(f"Training: {it:3d}/{ITERS} | loss={losses / 8:.4f} | tok/s={n_tokens / train_time:,.0f}"
              f" | active={active:.1f}MB | peak={peak:.1f}MB", flush=True)
        losses, n_tokens, train_time = 0.0, 0, 0.0

print(f"done. final active={mx.get_active_memory() / 2**20:.1f}MB peak={mx.get_peak_memory() / 2**20:.1f}MB")
