"""Preference-style fine-tuning of a tiny token policy: reference log-probs are
computed OUTSIDE the loss (frozen reference copy), the policy is run inside it
through a helper."""
import copy

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

VOCAB = 12


def token_logprobs(net, ctx, tokens):
    logits = net(ctx)
    lp = logits - mx.logsumexp(logits, axis=-1, keepdims=True)
    return mx.take_along_axis(lp, tokens[:, None], axis=-1).squeeze(-1)


def make_policy():
    return nn.Sequential(nn.Embedding(VOCAB, 16), nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, VOCAB))


def main():
    mx.random.seed(6)
    policy = make_policy()
    mx.eval(policy.parameters())
    reference = copy.deepcopy(policy)
    reference.freeze()
    opt = optim.Adam(learning_rate=1e-2)
    beta = 0.05

    def objective(net, ctx, chosen, rejected, ref_chosen, ref_rejected):
        pc = token_logprobs(net, ctx, chosen)
        pr = token_logprobs(net, ctx, rejected)
        margin = beta * ((pc - ref_chosen) - (pr - ref_rejected))
        return -mx.mean(nn.log_sigmoid(margin))

    step = nn.value_and_grad(policy, objective)
    for it in range(300):
        ctx = mx.random.randint(0, VOCAB, (64,))
        chosen = (ctx + 1) % VOCAB                      # preferred continuation
        rejected = mx.random.randint(0, VOCAB, (64,))
        ref_c = mx.stop_gradient(token_logprobs(reference, ctx, chosen))
        ref_r = mx.stop_gradient(token_logprobs(reference, ctx, rejected))
        loss, grads = step(policy, ctx, chosen, rejected, ref_c, ref_r)
        opt.update(policy, grads)
        mx.eval(policy.parameters(), opt.state, loss)
        if it % 60 == 0 or it == 299:
            probe = mx.arange(VOCAB)
            hit = mx.mean(mx.argmax(policy(probe), axis=-1) == (probe + 1) % VOCAB).item()
            print(f"it {it:3d} loss {loss.item():.4f} greedy-picks-chosen {hit:.3f}")


if __name__ == "__main__":
    main()
