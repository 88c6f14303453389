"""Online preference PPO on a tiny GRU language model.

Each iteration samples two completions per prompt from the current policy,
a rule-based judge picks the one whose count of "star" tokens is closer
to a target of three, and the policy is
updated with a clipped PPO objective against a frozen reference copy.
"""
import copy
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

VOCAB = 12
STAR = 3
TARGET_STARS = 3
PROMPT_LEN = 4
COMPLETION_LEN = 8
BATCH = 16
ITERS = 60
STEPS_PER_REPORT = 10
STEPS_PER_EVAL = 20
VAL_BATCHES = 2
BETA = 0.05
EPSILON = 0.2


class TinyLM(nn.Module):
    def __init__(self, vocab, dims=32, hidden=64):
        super().__init__()
        self.embed = nn.Embedding(vocab, dims)
        self.rnn = nn.GRU(dims, hidden)
        self.head = nn.Linear(hidden, vocab)

    def __call__(self, tokens):
        return self.head(self.rnn(self.embed(tokens)))


def sample_completions(model, prompts, n_tokens, temperature=1.0):
    seq = prompts
    for _ in range(n_tokens):
        logits = model(seq)[:, -1, :]
        nxt = mx.random.categorical(logits / temperature)
        seq = mx.concatenate([seq, nxt[:, None]], axis=1)
    return mx.stop_gradient(seq)


def judge(seqs):
    """Returns 0 when the first completion is preferred, 1 otherwise."""
    a, b = seqs
    gap_a = abs(int((a[PROMPT_LEN:] == STAR).sum().item()) - TARGET_STARS)
    gap_b = abs(int((b[PROMPT_LEN:] == STAR).sum().item()) - TARGET_STARS)
    return 0 if gap_a <= gap_b else 1


def get_token_scores(model, tokens, mask):
    logits = model(tokens[:, :-1])
    logp = nn.log_softmax(logits, axis=-1)
    tok = mx.take_along_axis(logp, tokens[:, 1:, None], axis=-1).squeeze(-1)
    return tok * mask[:, 1:]


def compute_score(scores, mask):
    return scores.sum(axis=-1) / mx.maximum(mask[:, 1:].sum(axis=-1), 1)


def ppo_loss(
    policy_chosen_score,
    policy_rejected_score,
    reference_chosen_score,
    reference_rejected_score,
    chosen_masks,
    rejected_masks,
    beta=0.1,
    epsilon=0.2,
):
    chosen_log_ratios = policy_chosen_score - reference_chosen_score
    rejected_log_ratios = policy_rejected_score - reference_rejected_score
    chosen_ratios = mx.exp(chosen_log_ratios)
    rejected_ratios = mx.exp(rejected_log_ratios)

    advantages = mx.stop_gradient(policy_chosen_score - policy_rejected_score)
    advantages = mx.abs(advantages) + 1.0
    advantage_mean = mx.mean(advantages)
    advantage_std = mx.sqrt(mx.var(advantages) + 1e-8)
    normalized_advantages = advantages / (advantage_mean + advantage_std)

    chosen_surr1 = chosen_ratios * normalized_advantages
    chosen_surr2 = mx.clip(chosen_ratios, 1.0 - epsilon, 1.0 + epsilon) * normalized_advantages
    chosen_policy_losses = -mx.minimum(chosen_surr1, chosen_surr2)

    rejected_surr1 = rejected_ratios * (-normalized_advantages)
    rejected_surr2 = mx.clip(rejected_ratios, 1.0 - epsilon, 1.0 + epsilon) * (-normalized_advantages)
    rejected_policy_losses = -mx.minimum(rejected_surr1, rejected_surr2)

    policy_loss = mx.mean(chosen_policy_losses) + mx.mean(rejected_policy_losses)
    kl_penalty = beta * (mx.mean(chosen_log_ratios ** 2) + mx.mean(rejected_log_ratios ** 2))
    total_loss = policy_loss + kl_penalty

    num_tokens = chosen_masks.sum() + rejected_masks.sum()
    chosen_reward = beta * (policy_chosen_score - reference_chosen_score)
    rejected_reward = beta * (policy_rejected_score - reference_rejected_score)
    reward = mx.stack([mx.mean(chosen_reward), mx.mean(rejected_reward)])

    metrics = {
        "policy_loss": policy_loss,
        "kl_penalty": kl_penalty,
        "advantages_mean": mx.mean(normalized_advantages),
        "ratios_mean": mx.mean(mx.concatenate([chosen_ratios, rejected_ratios])),
        "clip_fraction": mx.mean(
            (mx.abs(mx.concatenate([chosen_ratios, rejected_ratios]) - 1.0) > epsilon).astype(mx.float32)
        ),
        "policy_chosen_logps": mx.mean(policy_chosen_score),
        "policy_rejected_logps": mx.mean(policy_rejected_score),
        "reference_chosen_logps": mx.mean(reference_chosen_score),
        "reference_rejected_logps": mx.mean(reference_rejected_score),
        "accuracies": mx.mean((policy_chosen_score > policy_rejected_score).astype(mx.float32)),
        "margins": mx.mean(policy_chosen_score - policy_rejected_score),
        "chosen_logits_mean": mx.mean(policy_chosen_score),
        "rejected_logits_mean": mx.mean(policy_rejected_score),
    }
    return total_loss, reward, num_tokens, metrics


def make_pairs(policy, batch_size):
    prompts = mx.random.randint(4, VOCAB, (batch_size, PROMPT_LEN))
    doubled = mx.repeat(prompts, 2, axis=0)
    seqs = sample_completions(policy, doubled, COMPLETION_LEN)
    mx.eval(seqs)
    chosen, rejected = [], []
    for i in range(batch_size):
        pair = (seqs[2 * i], seqs[2 * i + 1])
        j = judge(pair)
        chosen.append(pair[j])
        rejected.append(pair[1 - j])
    chosen = mx.stack(chosen)
    rejected = mx.stack(rejected)
    mask = mx.concatenate(
        [mx.zeros((batch_size, PROMPT_LEN)), mx.ones((batch_size, COMPLETION_LEN))], axis=1
    )
    counts = (seqs[:, PROMPT_LEN:] == STAR).astype(mx.float32).sum(axis=1)
    star_rate = mx.abs(counts - TARGET_STARS).mean()
    return chosen, rejected, mask, mask, star_rate


def main():
    mx.random.seed(7)
    model = TinyLM(VOCAB)
    ref_model = copy.deepcopy(model)
    ref_model.freeze()
    mx.eval(model.parameters(), ref_model.parameters())
    optimizer = optim.Adam(learning_rate=2e-3)

    def loss_fn(model, chosen, rejected, chosen_masks, rejected_masks):
        pc = compute_score(get_token_scores(model, chosen, chosen_masks), chosen_masks)
        pr = compute_score(get_token_scores(model, rejected, rejected_masks), rejected_masks)
        rc = mx.stop_gradient(compute_score(get_token_scores(ref_model, chosen, chosen_masks), chosen_masks))
        rr = mx.stop_gradient(compute_score(get_token_scores(ref_model, rejected, rejected_masks), rejected_masks))
        return ppo_loss(pc, pr, rc, rr, chosen_masks, rejected_masks, beta=BETA, epsilon=EPSILON)

    loss_value_and_grad = nn.value_and_grad(model, loss_fn)

    def evaluate():
        total, acc, stars = 0.0, 0.0, 0.0
        for _ in range(VAL_BATCHES):
            c, r, cm, rm, sr = make_pairs(model, BATCH)
            lvalue, _, _, m = loss_fn(model, c, r, cm, rm)
            total += lvalue.item()
            acc += m["accuracies"].item()
            stars += sr.item()
        return total / VAL_BATCHES, acc / VAL_BATCHES, stars / VAL_BATCHES

    model.train()
    losses = 0
    n_tokens = 0
    steps = 0
    trained_tokens = 0
    star_sum = 0.0

    accumulated_metrics = {
        "accuracies": 0,
        "margins": 0,
        "policy_rejected_logps": 0,
        "policy_chosen_logps": 0,
        "rejected_logits_mean": 0,
        "chosen_logits_mean": 0,
    }

    start = time.perf_counter()
    for it in range(1, ITERS + 1):
        if it == 1 or it % STEPS_PER_EVAL == 0 or it == ITERS:
            vl, va, vs = evaluate()
            print(f"Iter {it}: Val loss {vl:.3f}, Val accuracy {va:.3f}, Val star gap {vs:.3f}")
            start = time.perf_counter()

        chosen, rejected, cm, rm, star_rate = make_pairs(model, BATCH)
        (lvalue, reward, toks, metrics), grad = loss_value_and_grad(model, chosen, rejected, cm, rm)
        optimizer.update(model, grad)

        losses += lvalue
        n_tokens += toks
        steps += 1
        star_sum += star_rate.item()

        for k, v in metrics.items():
            accumulated_metrics[k] += v

        mx.eval(model.parameters(), optimizer.state, losses, n_tokens, accumulated_metrics)

        if it % STEPS_PER_REPORT == 0 or it == ITERS:
            stop = time.perf_counter()
            train_loss = losses.item() / steps
            avg_metrics = {k: v.item() / steps for k, v in accumulated_metrics.items()}
            n_tok = n_tokens.item()
            trained_tokens += n_tok
            print(
                f"Iter {it}: Train loss {train_loss:.3f}, "
                f"Accuracy {avg_metrics['accuracies']:.3f}, "
                f"Margin {avg_metrics['margins']:.3f}, "
                f"KL {avg_metrics['kl_penalty']:.4f}, "
                f"Star gap {star_sum / steps:.3f}, "
                f"It/sec {steps / (stop - start):.2f}, "
                f"Trained Tokens {int(trained_tokens)}"
            )
            losses = 0
            n_tokens = 0
            steps = 0
            star_sum = 0.0
            start = time.perf_counter()

    n_params = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    print(f"Done. trainable params {n_params}")


if __name__ == "__main__":
    main()
