# Tiny GRPO run: a 4-head causal LM learns to answer left-padded prompts with the successor of their last token.
import copy
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

mx.random.seed(7)
VOCAB, PAD = 8, 0
max_tokens, generations, batch_prompts = 6, 8, 4
beta, epsilon = 0.04, 1e-4


class Args:
    num_attention_heads = 4
    hidden = 32


class Block(nn.Module):
    def __init__(self, d, h):
        super().__init__()
        self.h = h
        self.qkv = nn.Linear(d, 3 * d)
        self.out = nn.Linear(d, d)
        self.ln1 = nn.LayerNorm(d)
        self.ln2 = nn.LayerNorm(d)
        self.ff = nn.Sequential(nn.Linear(d, 2 * d), nn.GELU(), nn.Linear(2 * d, d))

    def __call__(self, x, mask):
        B, L, D = x.shape
        q, k, v = mx.split(self.qkv(self.ln1(x)), 3, axis=-1)
        q, k, v = (t.reshape(B, L, self.h, -1).transpose(0, 2, 1, 3) for t in (q, k, v))
        scores = (q @ k.transpose(0, 1, 3, 2)) * (q.shape[-1] ** -0.5) + mask
        y = (mx.softmax(scores.astype(mx.float32), axis=-1) @ v).transpose(0, 2, 1, 3).reshape(B, L, D)
        x = x + self.out(y)
        return x + self.ff(self.ln2(x))


class TinyLM(nn.Module):
    def __init__(self, args):
        super().__init__()
        self.args = args
        self.emb = nn.Embedding(VOCAB, args.hidden)
        self.pos = nn.Embedding(32, args.hidden)
        self.blocks = [Block(args.hidden, args.num_attention_heads) for _ in range(2)]
        self.head = nn.Linear(args.hidden, VOCAB)

    def __call__(self, tokens, mask):
        x = self.emb(tokens) + self.pos(mx.arange(tokens.shape[1]))
        for b in self.blocks:
            x = b(x, mask)
        return self.head(x)


def causal(L):
    return mx.triu(mx.full((L, L), -1e9), k=1)


def selective_softmax(logits, tokens):
    lp = nn.log_softmax(logits.astype(mx.float32), axis=-1)
    return mx.take_along_axis(lp, tokens[..., None], axis=-1).squeeze(-1)


def make_prompts(n):
    lens = mx.random.randint(2, 5, (n,)).tolist()
    rows, pads = [], []
    for l in lens:
        body = mx.random.randint(1, VOCAB, (l,)).tolist()
        pads.append(4 - l)
        rows.append([PAD] * (4 - l) + body)
    return mx.array(rows), pads


def create_generations(model, ref_model, prompts, pad_lengths):
    prompts = mx.repeat(prompts, generations, axis=0)
    seq = prompts
    for _ in range(max_tokens):
        L = seq.shape[1]
        logits = model(seq, causal(L)[None, None])[:, -1, :]
        nxt = mx.random.categorical(logits)
        seq = mx.concatenate([seq, nxt[:, None]], axis=1)
    responses = seq[:, prompts.shape[1]:]
    want = (prompts[:, -1:] % (VOCAB - 1)) + 1  # echo the successor of the last prompt token
    rewards = (responses == want).astype(mx.float32).mean(axis=1).reshape(-1, generations)
    baseline = mx.mean(rewards, axis=1, keepdims=True)
    std = mx.sqrt(mx.mean(mx.square(rewards - baseline)) + epsilon)
    advantages = ((rewards - baseline) / (std + epsilon)).reshape(-1, 1)

    full = seq
    L = full.shape[1]
    # 4d attention mask to account for padding in the batch
    attention_mask = mx.repeat(causal(L)[None], len(pad_lengths) * generations, 0)
    for i, p in enumerate(pad_lengths):
        start = i * generations
        end = start + generations
        attention_mask[start:end, :, 0:p] = -1e9
    attention_mask = mx.expand_dims(attention_mask, 1)
    # num_heads
    attention_mask = mx.repeat(attention_mask, model.args.num_attention_heads, 1)
    attention_mask = attention_mask.astype(mx.bfloat16)

    ref_log_probs = selective_softmax(ref_model(full, attention_mask)[:, :-1, :], full[:, 1:])
    response_mask = mx.concatenate(
        [mx.zeros((full.shape[0], prompts.shape[1] - 1)), mx.ones((full.shape[0], max_tokens))], axis=1)
    batch = dict(tokens=full, attention_mask=attention_mask, response_mask=response_mask,
                 advantages=advantages, ref_log_probs=ref_log_probs)
    return batch, rewards.mean()


def grpo_loss(model, tokens, response_mask, attention_mask, advantages, ref_log_probs):
    logits = model(tokens, attention_mask)[:, :-1, :]
    cur = selective_softmax(logits, tokens[:, 1:])
    kl_ratio = mx.clip(ref_log_probs - cur, -10.0, 10.0)
    kl = beta * (mx.exp(kl_ratio) - kl_ratio - 1)
    per_tok = mx.where(response_mask > 0, cur * advantages - kl, 0.0)
    seq = per_tok.sum(axis=1) / mx.maximum(response_mask.sum(axis=1), 1e-8)
    return -mx.mean(seq)


def train():
    model = TinyLM(Args())
    mx.eval(model.parameters())
    ref_model = copy.deepcopy(model)
    ref_model.freeze()
    opt = optim.Adam(learning_rate=1e-3)
    value_and_grad_fn = nn.value_and_grad(model, grpo_loss)
    for step in range(60):
        prompts, pads = make_prompts(batch_prompts)
        batch, mean_reward = create_generations(model, ref_model, prompts, pads)
        loss, grads = value_and_grad_fn(model, **batch)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step == 0:
            zero = [k for k, g in tree_flatten(grads) if mx.abs(g).sum().item() == 0]
            print(f"grad check: {len(tree_flatten(grads))} tensors, zero-grad: {zero}")
        if step % 5 == 0 or step == 59:
            print(f"step {step:3d} | reward {mean_reward.item():.3f} | loss {loss.item():+.4f}")


if __name__ == "__main__":
    train()
