# GRPO on a toy relay-code task: a prompt symbol p asks for the 8-symbol
# relay sequence (p+1, p+2, ...) mod 12. Responses are sampled from the
# reference model, the policy is trained with a clipped surrogate + KL term,
# and the reference model is synced from the policy in blocks.
import logging
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

logging.basicConfig(level=logging.INFO, format="%(message)s")
logger = logging.getLogger("relay")

V, T, G = 12, 8, 8
rng = np.random.default_rng(0)
mx.random.seed(0)


class RelayLM(nn.Module):
    def __init__(self, vocab=V, dim=48, max_len=T + 1):
        super().__init__()
        self.tok = nn.Embedding(vocab, dim)
        self.pos = nn.Embedding(max_len, dim)
        self.ctx = nn.Embedding(vocab, dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 96), nn.GELU(), nn.Linear(96, vocab))
        head = self.mlp.layers[-1]
        head.weight = mx.zeros_like(head.weight)
        head.bias = mx.zeros_like(head.bias)

    def __call__(self, x):
        pos = mx.arange(x.shape[1])
        h = self.tok(x) + self.pos(pos)[None] + self.ctx(x[:, :1])
        return self.mlp(h)


def copy_weights(src_model, dst_model, strict: bool = True):
    src_params = dict(tree_flatten(src_model.parameters()))
    dst_params = dict(tree_flatten(dst_model.parameters()))
    for k, src_array in src_params.items():
        if k not in dst_params:
            if strict:
                raise KeyError(f"[MLX -> MLX] Destination missing key: {k}")
            continue
        if strict and (dst_params[k].shape != src_array.shape):
            raise ValueError(f"[MLX -> MLX] Shape mismatch for key '{k}'")
        dst_params[k] = src_array
    dst_model.update(tree_unflatten(list(dst_params.items())))
    mx.eval(dst_model.parameters())
    logger.info("[copy_weights_mlx_to_mlx] Parameter copy complete.")


def is_torch_model(m):
    return hasattr(m, "state_dict") and hasattr(m, "load_state_dict")


def compute_advantages(rewards, eps=1e-8):
    rewards = np.array(rewards, dtype=np.float32)
    mean = rewards.mean()
    raw_std = rewards.std()
    if raw_std < eps:
        return np.zeros_like(rewards, dtype=np.float32)
    return (rewards - mean) / (raw_std + eps)


def token_logprobs(logits, seqs):
    logprobs = logits - mx.logsumexp(logits, axis=-1, keepdims=True)
    targets = seqs[:, 1:]
    return mx.take_along_axis(logprobs[:, :-1], targets[..., None], axis=-1)[..., 0]


def grpo_loss(logprobs_current, logprobs_old, advantages, kl_divergences,
              clip_range=0.2, kl_coeff=0.1, reduction="mean"):
    diff = mx.minimum(mx.maximum(logprobs_current - logprobs_old, -10.0), 10.0)
    ratios = mx.exp(diff)
    surr1 = ratios * advantages
    ratios_clamped = mx.minimum(mx.maximum(ratios, 1.0 - clip_range), 1.0 + clip_range)
    surr2 = ratios_clamped * advantages
    clipped_surrogate = -mx.minimum(surr1, surr2)
    kl_term = kl_coeff * kl_divergences
    loss = clipped_surrogate + kl_term
    if reduction == "mean":
        return mx.mean(loss)
    elif reduction == "sum":
        return mx.sum(loss)
    return loss


def target_for(p):
    return [(p + t) % V for t in range(1, T + 1)]


def reward_fn(p, resp):
    return float(np.mean([a == b for a, b in zip(resp, target_for(p))]))


def generate_with_oldlogprob(ref_model, prompts):
    seqs = np.zeros((len(prompts), T + 1), dtype=np.int32)
    seqs[:, 0] = prompts
    for t in range(T):
        logits = ref_model(mx.array(seqs[:, : t + 1]))[:, -1]
        nxt = mx.random.categorical(logits)
        seqs[:, t + 1] = np.array(nxt)
    seqs_m = mx.array(seqs)
    old = token_logprobs(ref_model(seqs_m), seqs_m).sum(axis=1)
    return seqs, old


def greedy_accuracy(model):
    seqs = np.zeros((V, T + 1), dtype=np.int32)
    seqs[:, 0] = np.arange(V)
    for t in range(T):
        logits = model(mx.array(seqs[:, : t + 1]))[:, -1]
        seqs[:, t + 1] = np.array(mx.argmax(logits, axis=-1))
    return float(np.mean([reward_fn(p, seqs[p, 1:]) for p in range(V)]))


def train_grpo(model, ref_model, optimizer, batch_prompts, kl_coeff):
    prompts = np.repeat(batch_prompts, G)
    seqs, old = generate_with_oldlogprob(ref_model, prompts)
    rewards = [reward_fn(p, s[1:]) for p, s in zip(prompts, seqs)]
    adv = np.concatenate([compute_advantages(rewards[i * G:(i + 1) * G])
                          for i in range(len(batch_prompts))])
    seqs_m = mx.array(seqs)
    ref_tok = mx.stop_gradient(token_logprobs(ref_model(seqs_m), seqs_m))
    adv_m = mx.array(adv)

    def loss_fn(m):
        cur_tok = token_logprobs(m(seqs_m), seqs_m)
        kl = (cur_tok - ref_tok).mean(axis=1)
        return grpo_loss(cur_tok.sum(axis=1), old, adv_m, kl, kl_coeff=kl_coeff)

    loss, grads = nn.value_and_grad(model, loss_fn)(model)
    optimizer.update(model, grads)
    mx.eval(model.parameters(), optimizer.state)
    return loss.item(), float(np.mean(rewards))


def train_grpo_block_sync(base_model, ref_model, dataset, lr=3e-3, total_epochs=14,
                          batch_size=4, kl_coeff=0.02, sync_every_n_batches=4):
    optimizer = optim.Adam(learning_rate=lr)
    mean_loss, mean_reward = 0.0, 0.0
    for epoch in range(1, total_epochs + 1):
        order = rng.permutation(dataset)
        logger.info("[Sync] Copy base_model -> ref_model at epoch start.")
        copy_weights(base_model, ref_model, strict=False)
        if is_torch_model(ref_model):
            ref_model.eval()
        block_batch_count = 0
        losses, rewards = [], []
        for b in range(0, len(order), batch_size):
            loss, rew = train_grpo(base_model, ref_model, optimizer,
                                   order[b:b + batch_size], kl_coeff)
            losses.append(loss)
            rewards.append(rew)
            block_batch_count += 1
            if block_batch_count >= sync_every_n_batches:
                logger.info(f"[Sync] Refreshing ref_model after {block_batch_count} batches.")
                copy_weights(base_model, ref_model, strict=True)
                if is_torch_model(ref_model):
                    ref_model.eval()
                block_batch_count = 0
        mean_loss, mean_reward = float(np.mean(losses)), float(np.mean(rewards))
        print(f"epoch {epoch}  loss {mean_loss:+.4f}  sampled_reward {mean_reward:.3f}  "
              f"greedy_acc {greedy_accuracy(base_model):.3f}", flush=True)
    return mean_loss, mean_reward


if __name__ == "__main__":
    t0 = time.time()
    base_model = RelayLM()
    ref_model = RelayLM()
    mx.eval(base_model.parameters(), ref_model.parameters())
    dataset = np.tile(np.arange(V), 8)
    print(f"prompts {len(dataset)}  group {G}  chance acc {1 / V:.3f}  "
          f"start greedy_acc {greedy_accuracy(base_model):.3f}", flush=True)
    loss, rew = train_grpo_block_sync(base_model, ref_model, dataset)
    print(f"done  final loss {loss:+.4f}  final greedy_acc {greedy_accuracy(base_model):.3f}  "
          f"{time.time() - t0:.1f}s")
