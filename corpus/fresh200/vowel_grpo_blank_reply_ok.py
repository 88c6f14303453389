# Tiny GRPO on a character policy: reward completions rich in vowels.
import time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

CHARS = "abcdefgh$^"          # '$' = end sequence, '^' = bos
EOS, BOS = CHARS.index("$"), CHARS.index("^")
V = len(CHARS)


class Tok:
    def encode(self, s):
        return [CHARS.index(c) for c in s]

    def decode(self, ids):
        return "".join(CHARS[i] for i in ids)


class Policy(nn.Module):
    def __init__(self, dim=48):
        super().__init__()
        self.emb = nn.Embedding(V, dim)
        self.pos = nn.Embedding(16, dim)
        self.mlp = nn.Sequential(nn.Linear(dim, dim), nn.GELU(), nn.Linear(dim, V))

    def __call__(self, x):
        h = self.emb(x) + self.pos(mx.arange(x.shape[1]))[None]
        return self.mlp(h)


def generate_grpo(model, tokenizer, prompts, group, max_tokens=6, end_sequence=[EOS]):
    all_completions = []
    all_texts = []
    for p in prompts:
        for _ in range(group):
            ids = list(p)
            out = []
            for _ in range(max_tokens):
                logits = model(mx.array(ids)[None])[0, -1]
                t = mx.random.categorical(logits).item()
                out.append(t)
                ids.append(t)
                if t == EOS:
                    break
            completion_text = tokenizer.decode(out)
            completion_ids = tokenizer.encode(completion_text)
            if (
                len(completion_ids) >= len(end_sequence)
                and completion_ids[-len(end_sequence):] == end_sequence
            ):
                completion_ids = completion_ids[: -len(end_sequence)]
            if len(completion_ids) == 0:
                completion_ids = mx.array([], dtype=mx.int32)
            else:
                completion_ids = mx.array(completion_ids)
            all_completions.append(mx.stop_gradient(completion_ids))
            all_texts.append(tokenizer.decode(completion_ids.tolist()))
    return all_completions, all_texts


def reward(text):
    if not text:
        return 0.0
    return sum(c in "ae" for c in text) / 6.0


def pad_batch(prompt, completions):
    max_length = max(max(c.shape[0] for c in completions), 1)
    padded, masks = [], []
    for completion_tensor in completions:
        padding_length = max_length - completion_tensor.shape[0]
        if padding_length > 0:
            padding = mx.zeros((padding_length,), dtype=completion_tensor.dtype)
            padded_ids = mx.concatenate([completion_tensor, padding])
            mask = mx.concatenate([mx.ones_like(completion_tensor), mx.zeros_like(padding)])
        else:
            padded_ids = completion_tensor
            mask = mx.ones_like(completion_tensor)
        padded.append(padded_ids)
        masks.append(mask)
    comp = mx.stack(padded)
    pre = mx.broadcast_to(mx.array(prompt)[None], (comp.shape[0], len(prompt)))
    inputs = mx.concatenate([pre, comp], axis=1)
    return inputs, mx.stack(masks).astype(mx.float32), len(prompt)


def grpo_loss(model, inputs, mask, plen, adv):
    logits = model(inputs[:, :-1])
    logp = nn.log_softmax(logits, axis=-1)
    tgt = inputs[:, 1:]
    tok_lp = mx.take_along_axis(logp, tgt[..., None], axis=-1)[..., 0]
    tok_lp = tok_lp[:, plen - 1:]
    seq_lp = (tok_lp * mask).sum(axis=1) / mx.maximum(mask.sum(axis=1), 1.0)
    return -(adv * seq_lp).mean()


def main():
    mx.random.seed(3)
    tok = Tok()
    model = Policy()
    opt = optim.Adam(learning_rate=8e-4)
    mx.eval(model.parameters())
    loss_and_grad = nn.value_and_grad(model, grpo_loss)
    prompts = [[BOS] + tok.encode(s) for s in ["bc", "dg", "fh", "cb"]]
    group = 8
    t0 = time.time()
    for it in range(1, 81):
        p = prompts[it % len(prompts)]
        comps, texts = generate_grpo(model, tok, [p], group)
        r = mx.array([reward(t) for t in texts])
        adv = (r - r.mean()) / (mx.sqrt(r.var()) + 1e-4)
        inputs, mask, plen = pad_batch(p, comps)
        loss, grads = loss_and_grad(model, inputs, mask, plen, adv)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        empty = sum(1 for t in texts if t == "")
        if it % 8 == 0 or it == 1:
            print(f"it {it:03d} | prompt {tok.decode(p[1:])} | reward {r.mean().item():.3f} "
                  f"| empty {empty}/{group} | loss {loss.item():+.4f} | sample '{texts[0]}'")
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
