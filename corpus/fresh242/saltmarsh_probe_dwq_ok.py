# Distilled weight quantization of a tiny sliding-window LM: a 2-bit student
# learns its scales/biases so its next-token distribution matches the fp32 model.
import copy
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_map

VOCAB, DIM, HEADS, LAYERS, WINDOW = 128, 64, 4, 4, 8


class Attention(nn.Module):
    def __init__(self):
        super().__init__()
        self.n_heads = HEADS
        self.q_proj = nn.Linear(DIM, DIM, bias=False)
        self.k_proj = nn.Linear(DIM, DIM, bias=False)
        self.v_proj = nn.Linear(DIM, DIM, bias=False)
        self.o_proj = nn.Linear(DIM, DIM, bias=False)

    def get_mask(self, x, cache, window_size):
        L = x.shape[1]
        i = mx.arange(L)[:, None]
        j = mx.arange(L)[None, :]
        allowed = j <= i
        if window_size is not None:
            allowed = allowed & (i - j < window_size)
        return mx.where(allowed, 0.0, -1e9).astype(x.dtype)

    def __call__(self, x, mask, cache=None):
        B, L, _ = x.shape
        q = self.q_proj(x).reshape(B, L, self.n_heads, -1).transpose(0, 2, 1, 3)
        k = self.k_proj(x).reshape(B, L, self.n_heads, -1).transpose(0, 2, 1, 3)
        v = self.v_proj(x).reshape(B, L, self.n_heads, -1).transpose(0, 2, 1, 3)
        o = mx.fast.scaled_dot_product_attention(
            q, k, v, scale=q.shape[-1] ** -0.5, mask=mask
        )
        return self.o_proj(o.transpose(0, 2, 1, 3).reshape(B, L, -1))


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.self_attn = Attention()
        self.input_layernorm = nn.RMSNorm(DIM)
        self.post_attention_layernorm = nn.RMSNorm(DIM)
        self.up = nn.Linear(DIM, 2 * DIM, bias=False)
        self.down = nn.Linear(2 * DIM, DIM, bias=False)

    def __call__(self, x, mask, cache=None):
        x = x + self.self_attn(self.input_layernorm(x), mask, cache)
        return x + self.down(nn.silu(self.up(self.post_attention_layernorm(x))))


class Backbone(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed_tokens = nn.Embedding(VOCAB, DIM)
        self.norm = nn.RMSNorm(DIM)
        self.layer_types = ["sliding_attention", "full_attention"] * (LAYERS // 2)
        self.layers = [Block() for _ in range(LAYERS)]
        self.window_size = WINDOW

    def __call__(self, inputs, cache=None):
        x = self.embed_tokens(inputs)
        if cache is None:
            cache = [None] * len(self.layers)
        masks = [
            l.self_attn.get_mask(
                x, c, self.window_size if lt == "sliding_attention" else None
            )
            for (l, c, lt) in zip(self.layers, cache, self.layer_types)
        ]
        for layer, c, m in zip(self.layers, cache, masks):
            x = layer(x, m, c)
        return self.norm(x)


class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.model = Backbone()
        self.lm_head = nn.Linear(DIM, VOCAB, bias=False)

    def __call__(self, inputs):
        return self.lm_head(self.model(inputs))

    @property
    def layers(self):
        return self.model.layers


class Catcher(nn.Module):
    def __init__(self, module):
        super().__init__()
        self.module = module

    def __call__(self, *args, **kwargs):
        outputs = self.module(*args, **kwargs)
        self.outputs = outputs[0] if isinstance(outputs, tuple) else outputs
        return outputs

    def __getattr__(self, key: str):
        if (value := self.get(key)) is not None:
            return value
        elif (m := self.get("module")) is not None:
            return getattr(m, key)
        else:
            super(nn.Module, self).__getattribute__(key)


def kl_div_loss(logits_q, logits_p):
    logprobs_p = logits_p - mx.logsumexp(logits_p, axis=-1, keepdims=True)
    logprobs_q = logits_q - mx.logsumexp(logits_q, axis=-1, keepdims=True)
    return (mx.exp(logprobs_p) * (logprobs_p - logprobs_q)).sum(axis=-1)


def make_corpus(n, seq_len, rng):
    # order-2 Markov text over the vocab, ragged lengths
    trans = rng.dirichlet(np.full(VOCAB, 0.05), size=(VOCAB,))
    data = []
    for _ in range(n):
        L = int(rng.integers(seq_len // 2, seq_len + 1))
        toks = [int(rng.integers(VOCAB))]
        for _ in range(L - 1):
            toks.append(int(rng.choice(VOCAB, p=trans[toks[-1]])))
        data.append(toks)
    return data


def iterate_batches(data, batch_size, max_len, rng=None):
    idx = np.arange(len(data)) if rng is None else rng.permutation(len(data))
    for s in range(0, len(idx) - batch_size + 1, batch_size):
        rows = [data[i][:max_len] for i in idx[s : s + batch_size]]
        lengths = [len(r) for r in rows]
        arr = np.zeros((batch_size, max(lengths)), np.int32)
        for b, r in enumerate(rows):
            arr[b, : len(r)] = r
        yield mx.array(arr), mx.array(np.array([[0, l] for l in lengths]))


def dwq_quantize(model, q_model, opt, train_data, valid_data, batch_size=4,
                 max_seq_length=32, activation_layer_step=0.25,
                 activation_loss_weight=1.0, epochs=3, seed=0):
    rng = np.random.default_rng(seed)

    def unfreeze(_, m):
        if hasattr(m, "bits") and hasattr(m, "group_size"):
            m.unfreeze(keys=["scales", "biases"], recurse=False)

    q_model.train()
    q_model.apply_to_modules(unfreeze)
    n_train = sum(v.size for _, v in tree_flatten(q_model.trainable_parameters()))
    print(f"trainable scale/bias values: {n_train}")

    layer_id_step = max(int(activation_layer_step * len(model.layers)), 1)
    layer_ids = list(range(len(model.layers)))[layer_id_step::layer_id_step]
    for lid in layer_ids:
        model.layers[lid] = Catcher(model.layers[lid])
        q_model.layers[lid] = Catcher(q_model.layers[lid])

    def forward(m, inputs):
        logits = m(inputs)
        extra = [m.layers[lid].outputs.astype(mx.float32) for lid in layer_ids]
        for lid in layer_ids:
            m.layers[lid].outputs = None
        return logits, extra

    def loss_fn(params, x, targets, extra_targets, lengths):
        q_model.update(params)
        logits, q_extra = forward(q_model, x)
        losses = kl_div_loss(logits, targets)
        mask = mx.arange(1, 1 + targets.shape[1]) < lengths[:, 1:]
        ntoks = mask.sum()
        kl_loss = (mask * losses).sum() / ntoks
        act_loss = mx.stack([
            (mask * (qe - e).abs().mean(axis=-1)).sum() / ntoks
            for qe, e in zip(q_extra, extra_targets)
        ]).mean()
        return kl_loss + activation_loss_weight * act_loss, ntoks, kl_loss, act_loss

    def validate(params):
        tot, tot_kl, tot_act, n = 0.0, 0.0, 0.0, 0
        for batch, lengths in iterate_batches(valid_data, batch_size, max_seq_length):
            batch = batch[:, :-1]
            targets, extra = forward(model, batch)
            loss, ntoks, kl, act = loss_fn(params, batch, targets, extra, lengths)
            mx.eval(loss, ntoks, kl, act)
            k = ntoks.item()
            tot += loss.item() * k
            tot_kl += kl.item() * k
            tot_act += act.item() * k
            n += k
        return tot / n, tot_kl / n, tot_act / n

    params = tree_map(lambda x: x.astype(mx.float32), q_model.trainable_parameters())
    v0 = validate(params)
    print(f"validation it=0 loss={v0[0]:.4f} kl={v0[1]:.4f} act={v0[2]:.4f}")

    grad_fn = mx.value_and_grad(loss_fn)
    it, tic, run_loss, run_toks = 0, time.time(), 0.0, 0
    for epoch in range(epochs):
        for batch, lengths in iterate_batches(train_data, batch_size, max_seq_length, rng):
            batch = batch[:, :-1]
            targets, extra = forward(model, batch)
            mx.eval(targets, extra)
            (loss, ntoks, _, _), grads = grad_fn(params, batch, targets, extra, lengths)
            params = opt.apply_gradients(grads, params)
            mx.eval(loss, params)
            k = ntoks.item()
            run_loss += loss.item() * k
            run_toks += k
            it += 1
            if it % 20 == 0:
                print(f"it={it} avg_loss={run_loss / run_toks:.4f} "
                      f"toks/s={run_toks / (time.time() - tic):.0f}")
                run_loss, run_toks, tic = 0.0, 0, time.time()
        v = validate(params)
        print(f"validation epoch={epoch + 1} it={it} loss={v[0]:.4f} kl={v[1]:.4f} act={v[2]:.4f}")
    if v0[0] < v[0]:
        print(f"final validation {v[0]:.3f} above initial {v0[0]:.3f}")
    q_model.update(params)
    return v0, v


def main():
    mx.random.seed(7)
    rng = np.random.default_rng(7)
    model = Model()
    # give the full-precision model some structure: scale up its head
    model.lm_head.weight = model.lm_head.weight * 4.0
    mx.eval(model.parameters())
    model.eval()
    model.freeze()

    q_model = copy.deepcopy(model)
    nn.quantize(q_model, group_size=32, bits=2)

    train = make_corpus(240, 33, rng)
    valid = make_corpus(64, 33, rng)
    opt = optim.Adam(learning_rate=3e-4)
    v0, v = dwq_quantize(model, q_model, opt, train, valid)
    print(f"summary: kl {v0[1]:.4f} -> {v[1]:.4f}, act {v0[2]:.4f} -> {v[2]:.4f}")


if __name__ == "__main__":
    main()
