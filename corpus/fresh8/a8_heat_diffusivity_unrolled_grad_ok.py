# Inverse problem: recover the thermal diffusivity of a 1D rod from a measured
# temperature profile. Forward model: explicit finite-difference heat equation,
# T_{k+1} = T_k @ M(alpha), run for N_STEPS small time steps (dt is limited by
# the stability condition, so long horizons need many steps).
import math
import time
import numpy as np
import mlx.core as mx
import mlx.optimizers as optim

mx.random.seed(0)
NX = 32
DX = 1.0 / (NX - 1)
N_STEPS = 2 ** 17          # 131072 explicit steps
DT = 2.0e-7

x = np.linspace(0.0, 1.0, NX)
T0 = mx.array(np.exp(-((x - 0.3) ** 2) / 0.005).astype(np.float32))[None, :]

lap = np.zeros((NX, NX), dtype=np.float32)
for i in range(1, NX - 1):
    lap[i - 1, i] += 1.0
    lap[i, i] += -2.0
    lap[i + 1, i] += 1.0
LAP = mx.array(lap / DX ** 2)      # Dirichlet ends: columns 0 and NX-1 stay put
EYE = mx.eye(NX)


def step_matrix(alpha):
    return EYE + DT * alpha * LAP


def simulate(alpha):
    # M^N by repeated squaring: log2(N) matmuls instead of N chained steps
    P = step_matrix(alpha)
    for _ in range(int(math.log2(N_STEPS))):
        P = P @ P
    return T0 @ P


TRUE_ALPHA = 0.35
T_obs = simulate(mx.array(TRUE_ALPHA))
mx.eval(T_obs)


def misfit(log_alpha):
    T = simulate(mx.exp(log_alpha))
    return mx.mean((T - T_obs) ** 2) * 1e4


log_alpha = mx.array(math.log(0.1))
opt = optim.Adam(learning_rate=0.02)
grad_fn = mx.value_and_grad(misfit)
state = {"log_alpha": log_alpha}

t0 = time.time()
for it in range(1, 61):
    loss, g = grad_fn(state["log_alpha"])
    state = opt.apply_gradients({"log_alpha": g}, state)
    mx.eval(state, loss)
    if it % 10 == 0 or it == 1:
        alpha = math.exp(state["log_alpha"].item())
        print(f"iter {it:3d} | misfit={loss.item():.5f} | alpha={alpha:.4f}")
print(f"fitted alpha={math.exp(state['log_alpha'].item()):.4f} (true {TRUE_ALPHA}) in {time.time() - t0:.1f}s")
