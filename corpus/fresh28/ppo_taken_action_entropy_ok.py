# PPO on a 4-armed contextual bandit (context = which of 4 lamps is lit; the right arm depends on it)
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

mx.random.seed(3)
rng = np.random.default_rng(3)
N_CTX, N_ARM = 4, 4
BEST = np.array([2, 0, 3, 1])

def make_obs(n):
    ctx = rng.integers(0, N_CTX, size=n)
    obs = np.eye(N_CTX, dtype=np.float32)[ctx] + 0.05 * rng.standard_normal((n, N_CTX)).astype(np.float32)
    return ctx, obs

class PPO:
    def __init__(self, actor, critic, aopt, copt):
        self.actor, self.critic, self.aopt, self.copt = actor, critic, aopt, copt
        self.a_lg = nn.value_and_grad(actor, self.actor_loss_fn)
        self.c_lg = nn.value_and_grad(critic, self.critic_loss_fn)

    def get_prob(self, obs, actions):
        probs = nn.softmax(self.actor(obs), axis=-1)
        return probs[mx.arange(actions.shape[0]), actions]

    def get_entropy(self, obs):
        logits = self.actor(obs)
        probs = nn.softmax(logits, axis=-1)
        log_probs = nn.log_softmax(logits, axis=-1)
        entropy = -mx.sum(probs * log_probs, axis=1)
        return entropy

    def actor_loss_fn(self, obs, actions, old_logp, adv, ent_coef):
        probs = self.get_prob(obs, actions)
        logp = mx.log(probs)
        ratio = mx.exp(logp - old_logp)
        entropy = self.get_entropy(obs)
        surr = mx.minimum(ratio * adv, mx.clip(ratio, 0.8, 1.2) * adv)
        return -mx.mean(surr) - ent_coef * entropy.mean()

    def critic_loss_fn(self, obs, returns):
        return mx.mean((self.critic(obs).squeeze(-1) - returns) ** 2)

actor = nn.Sequential(nn.Linear(N_CTX, 32), nn.Tanh(), nn.Linear(32, N_ARM))
critic = nn.Sequential(nn.Linear(N_CTX, 32), nn.Tanh(), nn.Linear(32, 1))
agent = PPO(actor, critic, optim.Adam(learning_rate=3e-3), optim.Adam(learning_rate=3e-3))

BATCH, MB, EPOCHS, ENT = 512, 256, 4, 0.05
for it in range(1, 61):
    ctx, obs_np = make_obs(BATCH)
    obs = mx.array(obs_np)
    actions = mx.random.categorical(actor(obs))
    old_logp = mx.log(agent.get_prob(obs, actions))
    a_np = np.array(actions)
    rewards = mx.array((a_np == BEST[ctx]).astype(np.float32))
    values = critic(obs).squeeze(-1)
    adv_all = rewards - values
    mx.eval(old_logp, adv_all)
    idx = np.arange(BATCH)
    for _ in range(EPOCHS):
        rng.shuffle(idx)
        for s in range(0, BATCH, MB):
            mb = mx.array(idx[s:s + MB])
            adv = adv_all[mb]
            adv = (adv - adv.mean()) / mx.sqrt(adv.var() + 1e-8)
            _, ag = agent.a_lg(obs[mb], actions[mb], old_logp[mb], adv, ENT)
            agent.aopt.update(actor, ag)
            _, cg = agent.c_lg(obs[mb], rewards[mb])
            agent.copt.update(critic, cg)
            mx.eval(actor.parameters(), critic.parameters(), agent.aopt.state, agent.copt.state)
    if it % 5 == 0:
        p = nn.softmax(actor(mx.array(np.eye(N_CTX, dtype=np.float32))), axis=-1)
        greedy = float(np.mean(np.array(mx.argmax(p, axis=-1)) == BEST))
        print(f"iter {it:3d}  mean_reward {float(rewards.mean()):.3f}  p(best) {float(p[mx.arange(4), mx.array(BEST)].mean()):.3f}  greedy_acc {greedy:.2f}")
