"""Tiny Mixtral-style MoE language model, LoRA-free full fine-tune on synthetic
arithmetic-progression token streams (tide-table style counters)."""
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

SEED = 3
np.random.seed(SEED)
mx.random.seed(SEED)

VOCAB = 32
DIM = 48
N_LAYERS = 2
N_HEADS = 4
HEAD_DIM = DIM // N_HEADS
HIDDEN = 96
NUM_EXPERTS = 4
TOP_K = 2
AUX_COEF = 0.02


class RMSNorm(nn.Module):
    def __init__(self, dims, eps=1e-5):
        super().__init__()
        self.weight = mx.ones((dims,))
        self.eps = eps

    def __call__(self, x):
        return self.weight * x * mx.rsqrt(mx.mean(x * x, axis=-1, keepdims=True) + self.eps)


class Attention(nn.Module):
    def __init__(self):
        super().__init__()
        self.scale = HEAD_DIM ** -0.5
        self.wq = nn.Linear(DIM, N_HEADS * HEAD_DIM, bias=False)
        self.wk = nn.Linear(DIM, N_HEADS * HEAD_DIM, bias=False)
        self.wv = nn.Linear(DIM, N_HEADS * HEAD_DIM, bias=False)
        self.wo = nn.Linear(N_HEADS * HEAD_DIM, DIM, bias=False)
        self.rope = nn.RoPE(HEAD_DIM, traditional=True, base=10000)

    def __call__(self, x, mask=None):
        B, L, D = x.shape
        q, k, v = self.wq(x), self.wk(x), self.wv(x)
        q = q.reshape(B, L, N_HEADS, -1).transpose(0, 2, 1, 3)
        k = k.reshape(B, L, N_HEADS, -1).transpose(0, 2, 1, 3)
        v = v.reshape(B, L, N_HEADS, -1).transpose(0, 2, 1, 3)
        q = self.rope(q)
        k = self.rope(k)
        scores = (q * self.scale) @ k.transpose(0, 1, 3, 2)
        if mask is not None:
            scores += mask
        scores = mx.softmax(scores.astype(mx.float32), axis=-1).astype(scores.dtype)
        out = (scores @ v).transpose(0, 2, 1, 3).reshape(B, L, -1)
        return self.wo(out)


class Expert(nn.Module):
    def __init__(self):
        super().__init__()
        self.w1 = nn.Linear(DIM, HIDDEN, bias=False)
        self.w2 = nn.Linear(HIDDEN, DIM, bias=False)
        self.w3 = nn.Linear(DIM, HIDDEN, bias=False)

    def __call__(self, x):
        return self.w2(nn.silu(self.w1(x)) * self.w3(x))


class FeedForward(nn.Module):
    def __init__(self):
        super().__init__()
        self.num_experts = NUM_EXPERTS
        self.num_experts_per_tok = TOP_K
        self.experts = [Expert() for _ in range(NUM_EXPERTS)]
        self.gate = nn.Linear(DIM, NUM_EXPERTS, bias=False)

    def __call__(self, x, training=False):
        top_k = self.num_experts_per_tok
        orig_shape = x.shape
        x = x.reshape(-1, x.shape[-1])

        gate_logits = self.gate(x)
        expert_indices = mx.stop_gradient(mx.argpartition(-gate_logits, kth=top_k, axis=-1)[:, :top_k])
        expert_scores = mx.softmax(mx.take_along_axis(gate_logits, expert_indices, axis=-1).astype(mx.float32), axis=-1)
        mx.eval(expert_indices)
        expert_indices = np.array(expert_indices)

        y = mx.zeros((x.shape[0], self.num_experts_per_tok, x.shape[-1]))
        for e, expert in enumerate(self.experts):
            idx1, idx2 = map(mx.array, np.where(expert_indices == e))
            if idx1.size == 0:
                continue
            y[idx1, idx2] = expert(x[idx1])

        y = (y * expert_scores[:, :, None]).sum(axis=1)

        if training:
            routing_weights = mx.softmax(gate_logits, axis=-1)
            router_prob_per_expert = mx.mean(routing_weights, axis=0)
            expert_counts = np.bincount(expert_indices.flatten(), minlength=self.num_experts)
            tokens_per_expert = mx.array(expert_counts / expert_counts.sum())
            router_loss = (tokens_per_expert * router_prob_per_expert).sum()
            return y.reshape(orig_shape), router_loss

        return y.reshape(orig_shape), 0.0


class TransformerBlock(nn.Module):
    def __init__(self):
        super().__init__()
        self.attention = Attention()
        self.feed_forward = FeedForward()
        self.attention_norm = RMSNorm(DIM)
        self.ffn_norm = RMSNorm(DIM)

    def __call__(self, x, mask=None, training=False):
        h = x + self.attention(self.attention_norm(x), mask)
        r, router_loss = self.feed_forward(self.ffn_norm(h), training)
        return h + r, router_loss


class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.router_aux_loss_coef = AUX_COEF
        self.tok_embeddings = nn.Embedding(VOCAB, DIM)
        self.layers = [TransformerBlock() for _ in range(N_LAYERS)]
        self.norm = RMSNorm(DIM)
        self.output = nn.Linear(DIM, VOCAB, bias=False)

    def loss(self, inputs, targets, lengths):
        h = self.tok_embeddings(inputs)

        mask = None
        T = h.shape[1]
        if T > 1:
            mask = nn.MultiHeadAttention.create_additive_causal_mask(T)
            mask = mask.astype(h.dtype)

        aux_loss = 0.0
        for layer in self.layers:
            h, router_loss = layer(h, mask, training=True)
            aux_loss += router_loss

        logits = self.output(self.norm(h[:, T - 1 : T, :])).astype(mx.float32)

        # Mask padding tokens
        length_mask = mx.arange(inputs.shape[1])[None, :] < lengths[:, None]
        cross_entropy_loss = nn.losses.cross_entropy(logits, targets) * length_mask
        num_tokens = length_mask.sum()
        cross_entropy_loss = cross_entropy_loss.sum() / num_tokens

        overall_loss = cross_entropy_loss + aux_loss * self.router_aux_loss_coef
        return overall_loss, num_tokens


def make_stream(rng):
    # counter that starts anywhere and steps by a constant stride (mod VOCAB)
    n = rng.integers(10, 21)
    start = rng.integers(1, VOCAB)
    stride = rng.integers(1, 4)
    return [int((start + stride * i) % (VOCAB - 1)) + 1 for i in range(n)]


class Dataset:
    def __init__(self, n, seed):
        rng = np.random.default_rng(seed)
        self._data = [make_stream(rng) for _ in range(n)]

    def iterate_batches(self, batch_size, train=False):
        indices = np.arange(len(self._data))
        if train:
            indices = np.random.permutation(indices)
        for i in range(0, len(indices) - batch_size + 1, batch_size):
            batch = [self._data[indices[i + j]] for j in range(batch_size)]
            lengths = [len(x) for x in batch]
            arr = np.zeros((batch_size, max(lengths)), np.int32)
            for j in range(batch_size):
                arr[j, : lengths[j]] = batch[j]
            batch = mx.array(arr)
            yield batch[:, :-1], batch[:, 1:], mx.array(lengths) - 1


def main():
    train_set = Dataset(1200, 11)
    valid_set = Dataset(160, 12)
    model = Model()
    n_params = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    print(f"MoE LM: {N_LAYERS} layers, {NUM_EXPERTS} experts (top-{TOP_K}), {n_params/1e3:.1f}K params")

    opt = optim.Adam(learning_rate=2e-3)

    def loss_fn(m, x, y, l):
        return m.loss(x, y, l)

    value_and_grad = nn.value_and_grad(model, loss_fn)

    def evaluate():
        tot, ntok = 0.0, 0
        for x, y, l in valid_set.iterate_batches(16):
            loss, n = model.loss(x, y, l)
            tot += loss.item() * n.item()
            ntok += n.item()
        return tot / ntok

    print(f"Starting training..., iters: {3 * (1200 // 16)}")
    it = 0
    t0 = time.time()
    t_win = t0
    for epoch in range(3):
        losses, toks = [], 0
        for x, y, l in train_set.iterate_batches(16, train=True):
            (loss, ntoks), grads = value_and_grad(model, x, y, l)
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            losses.append(loss.item())
            toks += ntoks.item()
            it += 1
            if it % 25 == 0:
                now = time.time()
                print(f"Iter {it}: Train loss {np.mean(losses):.3f}, Tokens/sec {toks / (now - t_win):.1f}")
                losses, toks, t_win = [], 0, now
        print(f"Iter {it}: Val loss {evaluate():.3f}")
    print(f"Done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
