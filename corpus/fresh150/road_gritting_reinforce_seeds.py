"""Learn a winter road-gritting (salt-spreading) policy with REINFORCE.

Each night a depot picks one of 5 spread rates (0 = none ... 4 = heavy) for a
route, given a 6-number forecast (road-surface temperature, dew-point gap,
precipitation chance, wind, traffic, hours of darkness).  Salt costs money;
an untreated icy road costs a lot more.  Ice events are random, so the reward
is noisy.  An actor-critic MLP (policy head + value baseline) is trained with
RMSprop for three seeds; the "always medium" depot rule and the oracle are
printed beside the learned policy's expected reward.
"""
import logging

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s gritting: %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("gritting")

N_ACT = 5
SALT_COST = 0.15
ICE_PENALTY = 2.0
RISK_W = mx.array([-1.6, -1.1, 1.3, 0.4, 0.5, 0.6])


def forecast(n, key):
    return mx.random.normal((n, 6), key=key)


def ice_risk(x):
    return mx.sigmoid(x @ RISK_W - 0.3)


def expected_reward(x, probs):
    """Exact expected reward of a (stochastic) policy, no sampling noise."""
    k = mx.arange(N_ACT).astype(mx.float32)
    r = ice_risk(x)[:, None]
    per_act = -SALT_COST * k - ICE_PENALTY * r * (1.0 - k / 4.0) ** 2
    return (probs * per_act).sum(axis=1).mean(), per_act


class Depot(nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(6, 48), nn.Tanh(), nn.Linear(48, 48), nn.Tanh())
        self.pi = nn.Linear(48, N_ACT)
        self.v = nn.Linear(48, 1)

    def __call__(self, x):
        h = self.trunk(x)
        return self.pi(h), self.v(h).squeeze(-1)


def ac_loss(model, x, a, ret, ent_coef):
    logits, v = model(x)
    logp_all = logits - mx.logsumexp(logits, axis=1, keepdims=True)
    logp = mx.take_along_axis(logp_all, a[:, None], axis=1).squeeze(1)
    adv = mx.stop_gradient(ret - v)
    pg = -(logp * adv).mean()
    vloss = ((v - ret) ** 2).mean()
    ent = -(mx.exp(logp_all) * logp_all).sum(axis=1).mean()
    return pg + 0.5 * vloss - ent_coef * ent, (pg, vloss, ent)


EVAL_X = forecast(4000, mx.random.key(99))
_, per_act_eval = expected_reward(EVAL_X, mx.ones((4000, N_ACT)) / N_ACT)
oracle = per_act_eval.max(axis=1).mean().item()
rule = per_act_eval[:, 2].mean().item()

NIGHTS = 256
UPDATES = 260
summary = []
for seed in (11, 22, 33):
    mx.random.seed(seed)
    model = Depot()
    mx.eval(model.parameters())
    opt = optim.RMSprop(learning_rate=3e-3, alpha=0.95)
    grad_fn = nn.value_and_grad(model, ac_loss)
    log.info("seed=%d start  oracle=%.4f  always-medium=%.4f", seed, oracle, rule)
    for upd in range(UPDATES):
        ent_coef = 0.05 * max(0.0, 1.0 - upd / 150)
        x = forecast(NIGHTS, None)
        logits, _ = model(x)
        a = mx.random.categorical(logits)
        risk = ice_risk(x)
        af = a.astype(mx.float32)
        ice = mx.random.bernoulli(risk * (1.0 - af / 4.0) ** 2)
        ret = -SALT_COST * af - ICE_PENALTY * ice.astype(mx.float32)
        (loss, (pg, vl, ent)), grads = grad_fn(model, x, a, ret, ent_coef)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss, pg, vl, ent)
        if upd % 20 == 0 or upd == UPDATES - 1:
            eval_logits, _ = model(EVAL_X)
            exp_r, _ = expected_reward(EVAL_X, mx.softmax(eval_logits, axis=1))
            log.info("seed=%d upd=%03d sampled_R=%+.3f pg=%+.4f v_mse=%.4f H=%.3f ent_c=%.3f "
                     "E[R]=%+.4f (rule %+.4f, oracle %+.4f)", seed, upd, ret.mean().item(), pg.item(),
                     vl.item(), ent.item(), ent_coef, exp_r.item(), rule, oracle)
    eval_logits, _ = model(EVAL_X)
    greedy = mx.argmax(eval_logits, axis=1)
    g_r = mx.take_along_axis(per_act_eval, greedy[:, None], axis=1).mean().item()
    gap_closed = 100.0 * (g_r - rule) / (oracle - rule)
    summary.append((seed, g_r, gap_closed))
    log.info("seed=%d done  greedy E[R]=%+.4f  gap to oracle closed %.1f%%", seed, g_r, gap_closed)

log.info("sweep: " + "  ".join(f"s{s}:{r:+.4f}/{g:.0f}%" for s, r, g in summary))
