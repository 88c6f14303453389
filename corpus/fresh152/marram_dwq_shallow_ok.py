# Distilled weight quantization (DWQ) of a small 3-block char model:
# the 2-bit student's scales/biases are tuned so its logits and a few
# hidden activations match the fp32 teacher.
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optimizers
import numpy as np
from mlx.utils import tree_flatten, tree_map

VOCAB, DIM, NLAYERS, SEQ = 64, 64, 3, 33


class Block(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.norm = nn.RMSNorm(dim)
        self.up = nn.Linear(dim, 2 * dim, bias=False)
        self.down = nn.Linear(2 * dim, dim, bias=False)

    def __call__(self, x):
        return x + self.down(nn.gelu(self.up(self.norm(x))))


class TinyLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, DIM)
        self.layers = [Block(DIM) for _ in range(NLAYERS)]
        self.norm = nn.RMSNorm(DIM)
        self.head = nn.Linear(DIM, VOCAB, bias=False)

    def __call__(self, x):
        h = self.embed(x)
        for l in self.layers:
            h = l(h)
        return self.head(self.norm(h))


class Catcher(nn.Module):
    def __init__(self, module):
        super().__init__()
        self.module = module

    def __call__(self, *args, **kwargs):
        self.outputs = self.module(*args, **kwargs)
        return self.outputs


def iterate_batches(data, batch_size, max_seq_length):
    for i in range(0, len(data) - batch_size + 1, batch_size):
        chunk = data[i : i + batch_size]
        lens = [min(len(s), max_seq_length) for s in chunk]
        arr = np.zeros((batch_size, max(lens)), np.int32)
        for j, s in enumerate(chunk):
            arr[j, : lens[j]] = s[: lens[j]]
        yield mx.array(arr), mx.array([[0, l] for l in lens])


def dwq_quantize(
    model,
    q_model,
    opt,
    data,
    batch_size: int = 4,
    max_seq_length: int = SEQ,
    temperature: float = 0.5,
    activation_layer_step: float = 0.25,
    activation_loss_weight: float = 1e-1,
    dtype: mx.Dtype = mx.float32,
):
    def unfreeze(_, m):
        if hasattr(m, "bits") and hasattr(m, "group_size"):
            m.unfreeze(keys=["scales", "biases"], recurse=False)

    q_model.apply_to_modules(unfreeze)
    n_train = sum(v.size for _, v in tree_flatten(q_model.trainable_parameters()))
    print(f"Trainable parameters: {n_train}")

    layer_id_step = max(int(activation_layer_step * len(model.layers)), 1)
    layer_ids = list(range(len(model.layers)))[layer_id_step::layer_id_step]

    for lid in layer_ids:
        model.layers[lid] = Catcher(model.layers[lid])
        q_model.layers[lid] = Catcher(q_model.layers[lid])

    def log_norm(x):
        if temperature != 1.0:
            x = x * (1 / temperature)
        return x - mx.logsumexp(x, axis=-1, keepdims=True)

    def forward(model, inputs):
        logprobs = log_norm(model(inputs).astype(mx.float32))
        extra_targets = [
            model.layers[lid].outputs.astype(mx.float32) for lid in layer_ids
        ]
        for lid in layer_ids:
            model.layers[lid].outputs = None
        return logprobs, extra_targets

    def loss_fn(params, x, targets, extra_targets, lengths):
        q_model.update(tree_map(lambda x: x.astype(dtype), params))
        logprobs, q_extra_targets = forward(q_model, x)
        losses = nn.losses.kl_div_loss(logprobs, targets, reduction="none")
        mask = mx.arange(targets.shape[1]) < lengths[:, 1:]
        ntoks = mask.sum()
        kl_loss = (mask * losses).sum() / ntoks
        act_loss = mx.stack(
            [
                (mask * (qe - e).abs().mean(axis=-1)).sum() / ntoks
                for qe, e in zip(q_extra_targets, extra_targets)
            ]
        )
        loss = kl_loss + activation_loss_weight * act_loss.mean()
        return loss, ntoks

    def step(inputs, targets, extra_targets, lengths, params):
        (loss, ntoks), grads = mx.value_and_grad(loss_fn)(
            params, inputs, targets, extra_targets, lengths
        )
        grads = nn.average_gradients(grads)
        params = opt.apply_gradients(grads, params)
        return loss, ntoks, params

    params = tree_map(lambda x: x.astype(mx.float32), q_model.trainable_parameters())

    avg_loss = None
    tokens = 0
    tic = time.time()
    for it, (batch, lengths) in enumerate(
        iterate_batches(data, batch_size, max_seq_length)
    ):
        batch = batch[:, :-1]
        targets, extra_targets = forward(model, batch)
        mx.eval(targets, extra_targets)
        loss, ntoks, params = step(batch, targets, extra_targets, lengths, params)
        mx.eval(loss, params, opt.state)
        loss = loss.item()
        tokens += ntoks.item()
        toks_per_sec = tokens / (time.time() - tic)
        avg_loss = 0.95 * (avg_loss or loss) + 0.05 * loss
        if it % 20 == 0:
            peak_memory_gb = mx.get_peak_memory() / 1e9
            print(
                f"{it=}, {loss=:.3f}, {avg_loss=:.4f}, {tokens=},"
                f" {toks_per_sec=:.3f}, {peak_memory_gb=:.3f}",
                flush=True,
            )
    q_model.update(tree_map(lambda x: x.astype(dtype), params))
    for lid in layer_ids:
        q_model.layers[lid] = q_model.layers[lid].module


def held_out_kl(model, q_model, data):
    tot, n = 0.0, 0
    for batch, lengths in iterate_batches(data, 4, SEQ):
        batch = batch[:, :-1]
        t = nn.log_softmax(model(batch), axis=-1)
        s = nn.log_softmax(q_model(batch), axis=-1)
        kl = nn.losses.kl_div_loss(s, t, reduction="none")
        mask = mx.arange(1, 1 + batch.shape[1]) < lengths[:, 1:]
        tot += (mask * kl).sum().item()
        n += mask.sum().item()
    return tot / n


if __name__ == "__main__":
    mx.random.seed(0)
    rng = np.random.default_rng(0)
    # markov-ish character streams of varying length
    trans = rng.dirichlet(np.full(VOCAB, 0.2), size=VOCAB)
    def sample(n):
        s = [int(rng.integers(VOCAB))]
        for _ in range(n - 1):
            s.append(int(rng.choice(VOCAB, p=trans[s[-1]])))
        return s
    train = [sample(int(rng.integers(12, SEQ + 1))) for _ in range(800)]
    valid = [sample(int(rng.integers(12, SEQ + 1))) for _ in range(64)]

    teacher = TinyLM()
    # give the teacher some sharper weights than init so quantization hurts
    teacher.update(tree_map(lambda w: w * 1.5, teacher.parameters()))
    mx.eval(teacher.parameters())
    teacher.freeze()

    student = TinyLM()
    student.update(teacher.parameters())
    nn.quantize(student, group_size=32, bits=2)
    student.freeze()
    mx.eval(student.parameters())

    print(f"held-out KL before: {held_out_kl(teacher, student, valid):.4f}")
    opt = optimizers.Adam(learning_rate=1e-3)
    dwq_quantize(teacher, student, opt, train)
    print(f"held-out KL after:  {held_out_kl(teacher, student, valid):.4f}")
