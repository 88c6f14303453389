# DPO preference tuning of a LoRA-adapted tiny causal LM against a frozen reference copy.
# Prompt = 4 tokens, "chosen" completion = the prompt reversed, "rejected" = random tokens.
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

VOCAB, PLEN, CLEN, DIM = 12, 4, 4, 48
SEQ = PLEN + CLEN


class LoRALinear(nn.Module):
    def __init__(self, base: nn.Linear, rank=4, scale=2.0):
        super().__init__()
        out_d, in_d = base.weight.shape
        self.linear = base
        self.scale = scale
        self.lora_a = mx.random.normal((in_d, rank)) * (1.0 / math.sqrt(in_d))
        self.lora_b = mx.zeros((rank, out_d))

    def __call__(self, x):
        return self.linear(x) + self.scale * ((x @ self.lora_a) @ self.lora_b)


class TinyLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.tok = nn.Embedding(VOCAB, DIM)
        self.pos = nn.Embedding(SEQ, DIM)
        self.mix = nn.Linear(2 * DIM, DIM)
        self.head = nn.Linear(DIM, VOCAB)

    def __call__(self, ids):
        T = ids.shape[1]
        h = self.tok(ids) + self.pos(mx.arange(T))
        # causal running mean of the prefix as "context"
        ctx = mx.cumsum(h, axis=1) / mx.arange(1, T + 1).reshape(1, T, 1)
        z = nn.gelu(self.mix(mx.concatenate([h, ctx], axis=-1)))
        return self.head(z)


def from_pretrained(seed=7):
    mx.random.seed(seed)
    m = TinyLM()
    mx.eval(m.parameters())
    return m


def add_lora(model):
    model.freeze()
    model.mix = LoRALinear(model.mix)
    model.head = LoRALinear(model.head)
    return model


def make_pairs(rng, n):
    prompt = rng.integers(0, VOCAB, size=(n, PLEN))
    chosen = np.concatenate([prompt, prompt[:, ::-1]], axis=1)
    rejected = np.concatenate([prompt, rng.integers(0, VOCAB, size=(n, CLEN))], axis=1)
    return mx.array(chosen, dtype=mx.int32), mx.array(rejected, dtype=mx.int32)


def seq_logp(model, seqs):
    logits = model(seqs[:, :-1])
    logp = nn.log_softmax(logits, axis=-1)
    tgt = seqs[:, 1:]
    tok = mx.take_along_axis(logp, tgt[..., None], axis=-1).squeeze(-1)
    mask = (mx.arange(SEQ - 1) >= PLEN - 1).astype(tok.dtype)  # completion tokens only
    return (tok * mask).sum(axis=1)


def train_dpo(model, ref_model, optimizer, pairs_fn, iters=160, beta=0.1, steps_per_report=20):
    def dpo_loss(m, chosen, rejected):
        pc, pr = seq_logp(m, chosen), seq_logp(m, rejected)
        rc = mx.stop_gradient(seq_logp(ref_model, chosen))
        rr = mx.stop_gradient(seq_logp(ref_model, rejected))
        logits = beta * ((pc - rc) - (pr - rr))
        loss = -nn.log_sigmoid(logits).mean()
        return loss, (beta * (pc - rc), beta * (pr - rr))

    loss_and_grad = nn.value_and_grad(model, dpo_loss)
    n_train = sum(v.size for _, v in __import__("mlx.utils").utils.tree_flatten(model.trainable_parameters()))
    print(f"Trainable parameters: {n_train}")
    t0 = time.perf_counter()
    for it in range(1, iters + 1):
        chosen, rejected = pairs_fn()
        (loss, (cr, rr)), grads = loss_and_grad(model, chosen, rejected)
        optimizer.update(model, grads)
        mx.eval(model.parameters(), optimizer.state, loss, cr, rr)
        if it % steps_per_report == 0 or it == 1:
            margin = (cr - rr).mean().item()
            acc = (cr > rr).astype(mx.float32).mean().item()
            print(
                f"Iter {it:4d}: dpo_loss {loss.item():.4f}, chosen_r {cr.mean().item():+.3f}, "
                f"rejected_r {rr.mean().item():+.3f}, margin {margin:+.3f}, acc {acc:.2f}, "
                f"{it / (time.perf_counter() - t0):.1f} it/s"
            )


def main():
    rng = np.random.default_rng(0)
    ref_model = from_pretrained()
    model = add_lora(from_pretrained())
    opt = optim.Adam(learning_rate=3e-3)
    train_dpo(
        model=model,
        ref_model=ref_model.freeze(),
        optimizer=opt,
        pairs_fn=lambda: make_pairs(rng, 32),
    )
    chosen, rejected = make_pairs(np.random.default_rng(123), 256)
    pref = (seq_logp(model, chosen) - seq_logp(ref_model, chosen)) > (
        seq_logp(model, rejected) - seq_logp(ref_model, rejected)
    )
    print(f"held-out preference accuracy: {pref.astype(mx.float32).mean().item():.3f}")


if __name__ == "__main__":
    main()
