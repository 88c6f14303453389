# Recover a 4-bit fake-quantized tiny MoE language model by distilling it
# against its full-precision original (DWQ-style), training only the experts.
import copy
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

VOCAB, DIM, HID, EXPERTS, TOPK, SEQ, BATCH = 48, 32, 64, 4, 2, 16, 8


class SwitchLinear(nn.Module):
    def __init__(self, idim, odim, n):
        super().__init__()
        s = idim ** -0.5
        self.weight = mx.random.uniform(-s, s, (n, odim, idim))

    def __call__(self, x, idx):
        return mx.gather_mm(x, self.weight.swapaxes(-1, -2), rhs_indices=idx)


class SwitchGLU(nn.Module):
    def __init__(self, dim, hid, n):
        super().__init__()
        self.gate_proj = SwitchLinear(dim, hid, n)
        self.up_proj = SwitchLinear(dim, hid, n)
        self.down_proj = SwitchLinear(hid, dim, n)

    def __call__(self, x, indices):
        x = mx.expand_dims(x, (-2, -3))
        idx = indices
        if self.training:
            idx = mx.stop_gradient(idx)
        h = nn.silu(self.gate_proj(x, idx)) * self.up_proj(x, idx)
        return self.down_proj(h, idx).squeeze(-2)


class MoEBlock(nn.Module):
    def __init__(self):
        super().__init__()
        self.norm = nn.RMSNorm(DIM)
        self.router = nn.Linear(DIM, EXPERTS, bias=False)
        self.experts = SwitchGLU(DIM, HID, EXPERTS)

    def __call__(self, x):
        h = self.norm(x)
        probs = mx.softmax(self.router(h).astype(mx.float32), axis=-1)
        inds = mx.argpartition(-probs, kth=TOPK - 1, axis=-1)[..., :TOPK]
        scores = mx.take_along_axis(probs, mx.stop_gradient(inds), axis=-1)
        scores = scores / scores.sum(axis=-1, keepdims=True)
        y = (self.experts(h, inds) * scores[..., None]).sum(axis=-2)
        return x + y


class TinyMoELM(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, DIM)
        self.layers = [MoEBlock() for _ in range(3)]
        self.out_norm = nn.RMSNorm(DIM)

    def __call__(self, tokens):
        x = self.embed(tokens)
        for layer in self.layers:
            x = layer(x)
        return self.embed.as_linear(self.out_norm(x))


def load_model(seed):
    mx.random.seed(seed)
    model = TinyMoELM()
    mx.eval(model.parameters())
    model.eval()
    return model


def qdq(w, bits=4, group_size=32):
    q, s, b = mx.quantize(w, bits=bits, group_size=group_size)
    return mx.dequantize(q, s, b, bits=bits, group_size=group_size)


def make_corpus(n_seq, rng):
    trans = rng.dirichlet(np.full(VOCAB, 0.3), size=VOCAB)
    seqs = np.zeros((n_seq, SEQ), dtype=np.int32)
    seqs[:, 0] = rng.integers(0, VOCAB, n_seq)
    for t in range(1, SEQ):
        u = rng.random(n_seq)[:, None]
        seqs[:, t] = (trans[seqs[:, t - 1]].cumsum(axis=1) < u).sum(axis=1).clip(0, VOCAB - 1)
    return mx.array(seqs)


rng = np.random.default_rng(3)
corpus = make_corpus(1024, rng)
teacher = load_model(seed=11)
student = copy.deepcopy(teacher)
for layer in student.layers:
    for name in ("gate_proj", "up_proj", "down_proj"):
        lin = getattr(layer.experts, name)
        lin.weight = qdq(lin.weight)
student.freeze()
for layer in student.layers:
    layer.experts.unfreeze()
n_train = sum(v.size for _, v in tree_flatten(student.trainable_parameters()))
print(f"trainable parameters: {n_train} (experts only)")


def log_norm(x):
    x = x.astype(mx.float32)
    return x - mx.logsumexp(x, axis=-1, keepdims=True)


def kl_loss(model, tokens, target_logp):
    logp = log_norm(model(tokens))
    return (mx.exp(target_logp) * (target_logp - logp)).sum(axis=-1).mean()


opt = optim.Adam(learning_rate=2e-3)
held = corpus[:128]
print(f"probe-set KL after 4-bit rounding: {kl_loss(student, held, log_norm(teacher(held))).item():.6f}")
loss_and_grad = nn.value_and_grad(student, kl_loss)

tic = time.time()
running = 0.0
for it in range(1, 181):
    sel = mx.array(rng.integers(0, corpus.shape[0], BATCH))
    batch = corpus[sel]
    target = log_norm(teacher(batch))
    loss, grads = loss_and_grad(student, batch, target)
    opt.update(student, grads)
    mx.eval(student.parameters(), opt.state, loss)
    running += loss.item()
    if it % 20 == 0:
        el = time.time() - tic
        print(f"[dwq] it {it:4d}  kl(teacher||student) {running / 20:.6f}  "
              f"toks/s {20 * BATCH * SEQ / el:8.0f}")
        running, tic = 0.0, time.time()

final = kl_loss(student, held, log_norm(teacher(held))).item()
print(f"done. probe-set KL {final:.6f}")
