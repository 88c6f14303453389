# Contextual bandit trained with a score-function (REINFORCE) surrogate.
# 6 arms; the rewarding arm depends on an 8-d context through a hidden linear map.
import json
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(5)
N_ARMS, D_CTX, BATCH = 6, 8, 64
W_true = mx.random.normal((D_CTX, N_ARMS))

def draw_contexts(n):
    x = mx.random.normal((n, D_CTX))
    best = mx.argmax(x @ W_true, axis=1)
    return x, best

def reward_of(actions, best):
    # 1 for the right arm, small partial credit for a neighbouring arm, noisy
    r = (actions == best).astype(mx.float32)
    r = r + 0.2 * (mx.abs(actions - best) == 1).astype(mx.float32)
    return r + 0.05 * mx.random.normal(r.shape)

policy = nn.Sequential(nn.Linear(D_CTX, 32), nn.Tanh(), nn.Linear(32, N_ARMS))

def surrogate(policy, x, actions, rewards):
    logp_all = nn.log_softmax(policy(x), axis=-1)
    log_q = mx.take_along_axis(logp_all, actions[:, None], axis=1).squeeze(1)
    signal = log_q                                    # what the estimator weights the score by
    baseline = mx.stop_gradient(mx.mean(signal))
    obj = mx.mean(mx.stop_gradient(signal - baseline) * log_q)
    return -obj

opt = optim.Adam(learning_rate=1e-2)
loss_and_grad = nn.value_and_grad(policy, surrogate)

x_eval, best_eval = draw_contexts(2000)
hist = []
for step in range(1, 1201):
    x, best = draw_contexts(BATCH)
    logits = policy(x)
    actions = mx.random.categorical(logits)
    rewards = reward_of(actions, best)
    loss, grads = loss_and_grad(policy, x, actions, rewards)
    opt.update(policy, grads)
    mx.eval(policy.parameters(), opt.state, loss, rewards)
    hist.append(rewards.mean().item())
    if step % 100 == 0:
        p = mx.softmax(policy(x_eval), axis=-1)
        ent = -mx.sum(p * mx.log(p + 1e-9), axis=-1).mean().item()
        greedy_acc = mx.mean(mx.argmax(p, axis=1) == best_eval).item()
        print(json.dumps({"step": step, "surrogate": round(loss.item(), 5),
                          "avg_reward_100": round(sum(hist[-100:]) / 100, 4),
                          "greedy_acc": round(greedy_acc, 4), "entropy": round(ent, 4)}))
