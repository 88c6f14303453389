"""Fix hints: what to change in the loop, with a short code line, chosen from the evidence.

Job: text only. A hint is picked from what was observed (step times, memory slope, the error
message), never from what a scenario expected, so it applies to a user's loop as well.

Must not import: mlx, anything with side effects.
"""

from __future__ import annotations

import re
import signal

from . import causes, known_errors, shape_notes, tracebacks

EVAL_STATE = "mx.eval(loss, model.parameters(), optimizer.state)  # after optimizer.update(...)"

# RSS climbing by more than this per step before a busy stall is the lazy-graph signature
# (measured: 0.37 MB/step for the tiny LM's un-evaluated steps; ~0 for evaluated ones)
LAZY_RSS_MB_PER_STEP = 0.01

OOM = ("the run used more memory than allowed: look for arrays kept across steps (lazy "
       "losses in a list, graphs never evaluated) or lower the batch; "
       "`mx.eval(...)` each step and keep Python floats: `losses.append(loss.item())`")
EXIT = "the process exited with an error code: read stderr_tail in the evidence"
# a write to a pipe whose reader is gone, and Python's exit status 120 (it could not flush a
# standard stream at shutdown): a service or a daemon whose stderr or stdout is closed
BROKEN_PIPE = ("a write to a closed pipe (stderr or stdout of a background service, a log "
               "reader gone, `| head`): progress bars and prints flush the stream (tqdm "
               "writes to stderr at its start). Give the job a stream that stays open: "
               "`with contextlib.redirect_stderr(io.StringIO()):` around the training call, "
               "or `sys.stderr = open(os.devnull, 'w')`, or disable the progress bars")
FLUSH_FAILED = ("exit status 120: Python could not flush stdout or stderr at exit, so " +
                BROKEN_PIPE)
NO_END = ("the loop ended the process itself (sys.exit / os._exit) before returning: "
          "return from the training function instead")
NO_STEPS = ("the training loop never reached `probe.step(...)`: an empty data iterator, a "
            "zero step count, or every step skipped by an exception handler")
# What a training loss at ~0 with a held-out loss far above it points to: the answer is in
# what the training forward is handed (`leaked_answer`, and `memorised` at that floor)
ANSWER_LEAKS = ("a mask passed to an attention that builds its causal mask only when "
                "`mask=None` replaces it (each position then attends to the future token it "
                "predicts): pass `mask=None`, or combine the padding mask with the causal "
                "(lower-triangular, `nn.MultiHeadAttention.create_additive_causal_mask`) "
                "mask; labels shifted against the inputs (`inputs = ids[:, :-1]`, `targets = "
                "ids[:, 1:]`); the target among the input features")
MATRICES_ONLY = ("every vector parameter (the 1-D ones: biases, gains, offsets) stayed as it "
                 "was at every look while the matrices moved: an update that handles only "
                 "2-D parameters (a Muon or other orthogonalised step, `if parameter.ndim != "
                 "2: return parameter`) leaves the rest where they started: hand them to an "
                 "alternate optimizer (Adam) in both `init_single` and `apply_single`. ")
ZERO_LR = ("the learning rate is 0, so nothing trains: check the schedule's start value and "
           "warm-up (mlx-lm: --learning-rate, `lr_schedule` in the config)")
KL_EXPLODED = ("`{name}` reached 1e12 or more: a Gaussian KL that large needs exp(logvar) "
               "near 1e12, so the encoder's log-variance is unbounded and exp overflows "
               "(an unbounded linear head, raw unscaled inputs): clip it, `logvar = "
               "mx.clip(logvar, -10, 10)`, or predict the std through softplus; and "
               "standardise the inputs. ")
LOGVAR_FAR = ("`{name}` reached {value:.4g}: a trained log-variance sits within a few units "
              "of 0, and exp() of this over- or underflows (a variance of 0 whose log is "
              "-inf, or inf); something rewards a variance without bound (a mutual-"
              "information or entropy bonus, a KL weight still 0 in a warm-up): clip it, "
              "`logvar = mx.clip(logvar, -10, 10)`, and add an eps inside every log of a "
              "variance, `mx.log(var + 1e-8)`. ")
SWALLOWED = ("the program printed `{error}` ({times}x in the last of its stderr) and went on: "
             "an exception caught around the step (`except Exception:`) skips the update "
             "every time; let it raise, or print its traceback once and stop. ")
NOTHING_TRAINED = ("every loss the run reported is exactly 0 and no step was taken: no example "
                   "reached the step, the averages are of nothing. Look for a filter that "
                   "skips examples and dropped them all: token ids checked against "
                   "`tokenizer.vocab_size`, which leaves out the added special tokens (check "
                   "against `len(tokenizer)` or the model's embedding rows), a length limit "
                   "below every example, a label mask that keeps no position; count what it "
                   "skips and print it. Else ")
IDLE_OPTIMIZER = ("the optimizer is never stepped: look for a `try/except` around the gradient "
                  "computation that falls back to a loss without gradients, or a condition "
                  "that skips `optimizer.update(model, grads)`: often a gradient dict "
                  "filtered by parameter name that comes out empty (`value_and_grad` returns "
                  "a nested tree keyed by the top-level modules, `layers` and `head`, so "
                  "filter the dotted keys of `tree_flatten(grads)` and rebuild with "
                  "`tree_unflatten`); or a gradient-accumulation window that never fills: "
                  "the run has fewer micro-batches than the window, or its last partial "
                  "window is dropped, so flush the pending accumulated gradients after the "
                  "loop (divide by the count accumulated, update, evaluate); or a check "
                  "that skips every batch as unusable: one sample with nothing to train on "
                  "(a prompt as long as its sequence leaves no target position) makes its "
                  "whole batch or bucket unusable, so filter samples one by one before "
                  "batching (keep those with length > prompt length + the window) and "
                  "count what it skips")
ENDLESS_LOOP = ("the program loops without end in the Python lines of its stacks (below): a "
                "loop whose exit is never met, most often a batch iterator that yields no "
                "batches (a data set, or its packed rows, fewer than one batch: with the last "
                "partial batch dropped, `len(data) // batch_size` is 0 and a `while True` over "
                "zero batches spins forever: check that the batch count is > 0 and raise if "
                "not), or a `while` on a value nothing in the loop changes")
ENDLESS_ALLOCATING = ("the program loops without end and allocates each pass, with no "
                      "output: a loop whose exit is never met while it keeps a copy of "
                      "something every time, most often an item taken from a container and "
                      "never removed from it (a partial batch left in its bucket, a queue "
                      "entry read but not popped), so the same item comes back and is "
                      "appended again, or `list(...)` of an endless stream (a generator or "
                      "streaming dataset that never stops) kept growing: remove what you take "
                      "(`del buckets[key]`, `pop`), take a bounded part of a stream "
                      "(`itertools.islice(stream, n)`, a buffer of fixed size), and check "
                      "that the loop's exit condition shrinks each pass")


def allocating_loop_reason(found: dict) -> str:
    """The reason's addition for a loop that allocates without end (`loops.allocating`)."""
    return (f"; for {found['looping_s']:.0f} s it printed nothing, moved no I/O and its "
            f"memory grew {found['rss_grown_mb']} MB ({found['rss_mb_per_s']} MB/s, >= "
            f"{found['grown_share']:.0%} of the machine's {found['memory_mb']} MB; the rest "
            f"would be gone in {found['memory_left_s']} s): a loop that allocates without end")


IDLE_COMPILED = ("the program compiles ({where}): Python control flow inside an mx.compile'd "
                 "function (an `if` on a step counter or a flag deciding whether to call "
                 "optimizer.update) is decided once, when the function is traced, and never "
                 "again: pass the condition in as an argument (each Python value gets its own "
                 "trace), or keep the update outside the compiled function. ")
UNOBSERVED = ("mlxprobe saw no progress signal: add `from mlxprobe import probe` and "
              "`probe.step(loss=loss_value)` once per step, or print `step N loss X` lines, or "
              "pass --progress REGEX")
COLLECTIVE = ("every rank must issue the same collectives in the same order: decide a skip "
              "collectively (all_sum a flag, then every rank skips or none does), and give "
              "every rank the same number of steps")
WRONG_RESULT = "a correctness check failed: see the failed check's evidence"
NO_UPDATE = ("the gradients are zero, so nothing trains: the loss does not depend on what "
             "is differentiated (a loss function that ignores its params argument and runs "
             "`self.model` or a global model instead, a closure: `mx.value_and_grad(f)` "
             "differentiates only f's first argument), or the loss's mask selects no token "
             "(rows truncated to the maximum length from the right cut off the whole "
             "completion when the prompt is as long as the limit: truncate the prompt, keep "
             "its end, so the response survives); differentiate with respect to the "
             "module, `loss_and_grad = nn.value_and_grad(model, loss_fn)`, freeze with "
             "`module.freeze()`, and let gradient errors raise instead of falling back")
DECAY_ONLY = ("every parameter only shrank by one common factor at each look: that is weight "
              "decay (AdamW, or `weight_decay=` in SGD) acting alone, so the gradient is "
              "exactly 0 everywhere; ")
NO_UPDATE_PARAMS = ("the optimizer ran but no parameter changed: check the learning rate is not 0, "
                    "that the gradient reaches the parameters (no `mx.stop_gradient`, "
                    "a gradient scaled to 0: `clip_grad_norm` with max_norm=0 (0 meant as 'off': "
                    "skip the call instead), or a clip scale `max_norm / norm` cast to float16 "
                    "before it multiplies float16 gradients, 0 below 6e-8 (multiply in float32, "
                    "`(g.astype(mx.float32) * scale).astype(g.dtype)`); differentiate the model: "
                    "`nn.value_and_grad(model, loss_fn)`, whose loss "
                    "function runs the forward pass itself: outputs computed outside it and "
                    "passed in are constants, with zero gradient), that the "
                    "update is applied to the model you train (`optimizer.update(model, "
                    "grads)`, not to a copy), that a hand-written update finds what it "
                    "looks up (gradients keyed by `tree_flatten`'s dotted names, "
                    "'layers.0.weight', looked up in the nested tree value_and_grad returns, "
                    "or a path joined again, miss every key and update nothing: flatten both "
                    "sides, `dict(tree_flatten(grads))`), that no activation sits in its flat "
                    "region for every input from the start (a ReLU or a clip on an output "
                    "head, a NeRF's density, that starts negative everywhere: output 0, "
                    "gradient 0 through it and through what it weights; use softplus, or a "
                    "bias that starts it positive), and that the step is not below the "
                    "dtype's resolution (bfloat16 weights with a tiny learning rate)")
NO_UPDATE_PART = ("{groups} never changed while the rest trained: the gradient does not reach "
                  "them (a `mx.stop_gradient`, a branch not used in the loss, a parameter "
                  "the forward never reads because a layer is handed another input in its "
                  "place: a learned query or probe ignored by an attention that projects its "
                  "queries from the keys, an array read inside `mx.checkpoint` (or a "
                  "compiled function) from an object or a closure instead of passed in as an "
                  "argument, K/V shared from another layer through a cache's `state`: the "
                  "transformation keeps it a constant and no gradient flows back to the "
                  "layers that made it, so pass it in, `checkpoint(layer)(h, *cache.state)` "
                  "(fresh216 `kvshare_gradckpt_source`, unsloth-zoo PR 1275), `freeze()` "
                  "called on them, or layers quantized with `nn.quantize`, whose weights are "
                  "frozen: train in float and quantize afterwards, or train LoRA adapters) or "
                  "the update skips them, or the loss is taken only where they cannot "
                  "reach (labels or a loss mask not aligned with the inputs after a shift "
                  "or an expansion of placeholder tokens: a causal model's loss at positions "
                  "before every text token never reaches the token embedding); unfreeze with "
                  "`module.unfreeze()` and check "
                  "`tree_flatten(model.trainable_parameters())` lists them. If they are meant "
                  "to stay fixed (a backbone skipped on purpose in a hand-written update), "
                  "say so: call `freeze()` on their module (`model.backbone.freeze()`); their "
                  "gradient is then neither computed nor kept, and this verdict stands down")
# fresh373 `quarry_ledger_stencil` (mlx-vlm issue 830): a prompt written "<image>{q}" for a
# tokenizer whose image token is "<|image|>": 0 image tokens per example, the vision tower's
# layers unchanged over 48 looks while the text side trained (loss 2.15 -> 0.83, exact match
# at chance 4.4%); with the registered placeholder: loss 0.009, exact match 100%.
MODALITY_PART = ("{groups} encode another modality (images, audio), whose features reach the "
                 "loss only at the input positions that hold its placeholder token: a prompt "
                 "whose placeholder string is not a special token of the tokenizer (\"<image>\" "
                 "where the model registers \"<|image|>\") is split into text pieces, so no "
                 "position holds it, or a dataset that passes no pixels, leaves the merge "
                 "nothing to write: check `(input_ids == image_token_id).sum() > 0` for a "
                 "batch and write the placeholder the processor registers "
                 "(`processor.image_token`). ")
STOPPED = ("every parameter stopped changing after step {step} while optimizer updates went "
           "on: the updates reach another copy of the model. A gradient function bound to "
           "the model it was built with (`nn.value_and_grad(model, fn)`, a compiled step "
           "capturing `model`) keeps differentiating the old instance after the model is "
           "replaced (a restart from a checkpoint, a new model per stage): re-create the "
           "value_and_grad (and the optimizer, and any `mx.compile` state) for the new "
           "instance; or the learning rate fell to exactly 0")
RATE_ENDED = ("the printed learning rate was 0 from step {since} to the end, and no parameter "
              "changed after step {step}: the schedule ended before the run did, so every "
              "later update was 0. A scheduler advanced more than once per optimizer update "
              "(stepped twice: in the training step and again in a callback or a second "
              "`scheduler.step()`) runs at double speed, and one given too few total steps "
              "(epochs or batches of one epoch instead of all updates) ends early: step the "
              "schedule once per update and give it the run's total number of updates, "
              "`optim.cosine_decay(lr, total_updates)` read from `optimizer.step`")
ZERO_WEIGHTS = ("the weights of {groups} are all 0: an initialiser applied to every "
                "parameter zeroed them (`model.apply(nn.init.constant(0.0))` sets weight "
                "matrices too: zero only the biases, `model.apply(init, filter_fn=lambda m, k, "
                "v: k == 'bias')` or `apply_to_modules`), or both factors of one low-rank "
                "product were set to 0 (each factor's gradient is multiplied by the other, so "
                "neither moves: a LoRA adapter starts with A random, "
                "`mx.random.uniform(-s, s, (in_dim, rank))`, and only B at 0), and a layer whose "
                "input or output weights are all 0 gets a zero gradient, so it never moves. ")
# fresh240 `tendon_grasp_adapter_ok` (mlx-vla's LoRALayer, lora_A and lora_B both zeros_like):
# its four adapter matrices stayed all 0 over 9 looks while the rest of the model trained
# Measured (mlx 0.32.4 CPU): Adam(learning_rate=1e-3) on a float16 parameter of zeros with
# gradients of 1e-5 to 4e-5 left it at exactly 0 over 5 steps (its first moment 1.2e-5, its
# second 0.0; fresh22's GEGLU position table stayed 0 over 24); the same in float32 moved it
# by 1e-4 to 5e-4 in 5 steps.
LOW_PRECISION_PART = ("the model trains in {dtype}: an update too small for {dtype} is lost "
                      "(float16: Adam computes lr * m in the parameter's dtype, and 1e-3 * "
                      "1e-5 = 1e-8 is below float16's smallest value, 6e-8; bfloat16: p + u "
                      "rounds back to p when u is below about p/256), so a parameter whose "
                      "gradients are small (a zero-initialised embedding, a bias) never "
                      "moves: keep float32 master weights (train with `model.set_dtype("
                      "mx.float32)` and cast the inputs), or give it a larger learning rate. ")
# Measured (mlx 0.32.4 CPU, failure corpus fresh35 `halfprec_rmsnorm`): a hand-written RMSNorm
# in float16 on inputs in the hundreds: mean(h ** 2) was inf, rsqrt(inf) = 0, the norm gave
# exact zeros, and its weight and the next layer's got zero gradient at every step;
# nn.RMSNorm (mx.fast.rms_norm accumulates in float32) trained.
FLOAT16_OVERFLOW = ("Or a value overflowed float16 on their path (its range ends at 65504, so "
                    "a square of an activation above 256 is inf): a hand-written norm or "
                    "variance, `mx.rsqrt(mx.mean(h ** 2, -1) + eps)`, gives rsqrt(inf) = 0, "
                    "the layers after it see zeros and get zero gradient; compute it in "
                    "float32 (`h.astype(mx.float32)`) or use `nn.RMSNorm`/`nn.LayerNorm`, "
                    "whose fused kernels accumulate in float32. ")
CHECKPOINTED = ("the program checkpoints ({where}): `mx.checkpoint(fn)` differentiates only "
                "fn's arguments, so the parameters a closure or a module attribute reaches "
                "are constants with zero gradient; use `mlx.nn.utils.checkpoint(module)`, "
                "which passes the module's parameters explicitly, or pass the state as an "
                "argument. ")
STUCK_WEIGHTS = ("{weights} never changed while the bias or norm of its own module did: the "
                 "gradient reaches the layer's output but not its weight. An op of zero "
                 "gradient on the weight's path (`mx.round`, `mx.floor`, `mx.sign`, a "
                 "comparison: a fake-quantization or binarization) needs a straight-through "
                 "estimator: `w_q = w + mx.stop_gradient(quantize(w) - w)`; or a "
                 "`mx.stop_gradient` on the weight, or inputs to the layer that are all zero: "
                 "the layer before it never activates (dead ReLUs; spiking units that never "
                 "cross their threshold, whose surrogate gradient (a steep sigmoid) "
                 "vanishes away from it: a wider surrogate such as the fast sigmoid "
                 "`x / (1 + k * abs(x))`, or inputs scaled to reach the threshold)")
FROZEN_QUANTIZED = ("quantized layers are frozen: `nn.quantize` turns each Linear into a "
                    "QuantizedLinear whose integer weights cannot be trained, so only the "
                    "float biases learn; train in float and quantize afterwards, or train "
                    "LoRA adapters on the quantized model (`linear_to_lora_layers`, QLoRA); "
                    "a LoRA walk that matches `isinstance(m, nn.Linear)` attaches nothing to "
                    "a quantized model: accept `nn.QuantizedLinear` too")
FROZEN_WEIGHTS = ("every weight matrix is frozen{names} (a `model.freeze()` with nothing "
                  "unfrozen but biases and norms, or a layer's arrays replaced on a frozen "
                  "module, which keeps them frozen), so the model can hardly learn: unfreeze "
                  "the layers you mean to train ({example}) and check "
                  "`tree_flatten(model.trainable_parameters())` lists their weights")
DIVERGED = ("the loss or the parameters blew up: the updates are too large; lower the "
            "learning rate (a blow-up in the first steps is a step too large for this model), "
            "clip and check before the update, "
            "`grads, _ = optim.clip_grad_norm(grads, max_norm=1.0)`; skip a batch whose "
            "loss is not finite; average accumulated gradients: `g / n_micro`")
OUT_OF_RANGE = ("; a loss that grows by orders of magnitude and stays finite can also be a "
                "cross-entropy whose targets lie outside the logits: label ids at or above "
                "the output head's size (media or special tokens past a pruned vocabulary), "
                "which MLX's cross_entropy and take_along_axis do not check, read past each "
                "row; mask them out, `in_vocab = labels < logits.shape[-1]; labels = "
                "mx.where(in_vocab, labels, 0)`, with the loss mask zero there")
NAN_OPS = ("an op whose value or gradient is undefined at its input "
           "made it: sqrt or log at 0, a division by zero, x**p at 0, 0 * inf in a "
           "gradient; clamp the input with an eps, `mx.sqrt(mx.maximum(d2, 1e-12))`, "
           "`mx.log(mx.maximum(p, 1e-9))`; a log of a value that can be negative, a "
           "determinant above all (an invertible mixing matrix that starts as a permutation "
           "has det -1): log of a negative is NaN while its gradient 1/x stays finite, so "
           "the weights train and only the loss reads NaN; take log|det|, "
           "`mx.linalg.slogdet(w)[1]` or `mx.log(mx.abs(det))`; a hand-written cross-entropy on "
           "probabilities (the log of a sigmoid or softmax that saturated to 0 or 1): "
           "compute it from the logits, `nn.losses.binary_cross_entropy(logits, y, "
           "with_logits=True)`; or a float16 value past 65504 (compute the loss in "
           "float32); a softmax over a row that is all -inf (an attention mask that "
           "masks every position of a row, e.g. left padding with a causal mask: mask "
           "with a large negative finite value, -1e9 or `mx.finfo(x.dtype).min`); or a "
           "variance computed as E[x^2] - E[x]^2, which cancellation makes negative "
           "in float32 (its sqrt is NaN: use `mx.var` or the two-pass `mx.mean((x - "
           "mean) ** 2)`); or a "
           "mean over zero batches, 0/0 (an exhausted data iterator or generator not "
           "re-created for the next epoch: reset it each epoch); or one huge step from "
           "one outlier batch (a corrupted target, a unit glitch) with no clipping: clip "
           "the gradient norm before the update, `grads, _ = optim.clip_grad_norm(grads, "
           "max_norm=1.0)`; check with `mx.isnan(x).any()` where it first appears")
NAN_SUDDEN = ("a value became NaN/inf without growing first (non-finite from a finite, "
              "not rising, run): " + NAN_OPS)
NAN_EPS_ZERO = ("the optimizer was stepped with eps = 0: Adam/AdamW/RMSprop divide by "
                "`sqrt(v) + eps`, and a parameter whose gradient is exactly 0 at its first steps "
                "(an embedding row never looked up, a masked unit) has v = 0, so its update "
                "is 0/0 = NaN, and the loss follows; keep eps positive, the default 1e-8 "
                "(1e-6 or more in float16/bfloat16)")
NAN_SCHEDULE = ("the learning rate itself became non-finite: the schedule computed it from a "
                "0/0 or an inf, and each update after it writes NaN into the weights. A "
                "warm-up or decay of 0 steps divides by zero: a cosine decay over `iters - "
                "warmup` steps is 0 steps long when the warm-up equals the iterations, a "
                "linear warm-up over 0 steps is 0/0; give each part >= 1 step "
                "(`max(1, iters - warmup)`) and check the schedule's lengths against the "
                "run's iterations before training (print `schedule(0)`, `schedule(iters)`)")
NAN_HELD_OUT = ("only the held-out metric is non-finite while the training loss stays "
                "finite: the evaluation averaged over no batches or no tokens, 0/0 (an "
                "evaluation loop that ran zero batches: a batch count of -1 or 0, a "
                "validation set smaller than one batch, an exhausted iterator: a one-pass "
                "stream or generator made once and read again is drained by its first "
                "evaluation, so create it fresh inside each evaluation and each epoch, as a "
                "training stream drained the same way runs zero steps in every later epoch; "
                "or one batch "
                "with no tokens, such as the empty rows that pad the last batches of a "
                "sharded evaluation: its per-token mean is 0/0 = NaN, and NaN * 0 is still "
                "NaN when the total is weighted by its token count); check how many "
                "validation batches ran and divide by `max(count, 1)`, and weight a batch's "
                "loss only where it has tokens, `mx.where(ntoks > 0, loss * ntoks, 0.0)`")
NAN_GROWTH = ("the values grew, then became NaN/inf (non-finite): the updates are too large; "
              "lower the learning rate, clip before the update, `grads, _ = "
              "optim.clip_grad_norm(grads, max_norm=1.0)`, and skip a batch whose loss is "
              "not finite; where gradients are accumulated by hand, average them before the "
              "update (divide the sum by the number of micro-batches, `tree_map(lambda g: g / "
              "n_accum, acc)`: an undivided sum is a learning rate n_accum times larger) and "
              "reset the sum to zero after each update (`acc = tree_map(mx.zeros_like, acc)`): "
              "a sum never cleared makes every step larger than the last")
GROWTH_FACTOR = 2.0  # the last finite value over the first: a blow-up, not a sudden NaN
NAN_UNBOUNDED = ("the loss fell below zero, past minus its first value, and kept falling until "
                 "it became NaN/inf: the objective has no minimum. A term the loss maximises "
                 "without bound runs away: a penalty subtracted from it (`- lam * mi` for a "
                 "mutual-information or a KL estimate, an entropy bonus), a log-likelihood "
                 "whose learned variance can shrink to 0; bound that term (clip or squash "
                 "it, `mx.minimum(term, cap)`), weigh it against a term that opposes it from "
                 "the start, or drop it from the loss and only monitor it; a loss that must "
                 "stay >= 0 (cross-entropy, mse) going negative has a sign turned round")


NAN_FLOAT16 = (
    "the model computes in float16, whose largest value is 65504: a constant past it is inf "
    "once cast, so a fill or mask value such as -1e6 or -1e9 becomes -inf and a sanitising "
    "`mx.where(mx.isfinite(x), x, -1e6)` puts -inf back (fill with `mx.finfo(x.dtype).min`), "
    "and exp, sums of squares and long reductions overflow (compute log-probs and the loss in "
    "float32, `x.astype(mx.float32)`); measured on fresh25 `fp16_logprob_sentinel_overflow`: "
    "NaN at the first update, finite with finfo's minimum. ")


NAN_VALUE_ONLY = (
    "the parameters stayed finite and kept changing after the loss went non-finite, so its "
    "gradient was finite: the NaN is in the loss's value only, which is what an average "
    "over an empty selection gives (`mx.mean` of a 0-element array is NaN and its gradient "
    "is 0: a mask or filter that keeps no token, response or sample on some steps, such as "
    "completions that are all empty); guard the count, `total / mx.maximum(count, 1)`, or "
    "skip such batches. ")


NAN_AT_FIRST = (
    "the loss was non-finite from its first report: check the inputs first, "
    "`mx.isnan(x).any()` on a batch: a standardisation `(x - mean) / std` where a constant "
    "feature has a std of 0 makes 0/0 = NaN in every row (replace a zero std with 1.0 or "
    "divide by `std + 1e-8`), any division by a count or norm that is 0 for some rows (a "
    "graph node's degree for an isolated node: `deg ** -0.5` is inf; a mask's count; a "
    "row's norm: guard it, `mx.maximum(deg, 1)` or `mx.where(deg > 0, ..., 0)`; a range "
    "max - min over a group whose values are all equal, such as a quantizer's step size "
    "`(w_max - w_min) / n_bins` on a zero-initialised weight: floor it, "
    "`mx.maximum(delta, 1e-7)`), a log of "
    "a 0 feature, missing values read as NaN; then the initial parameters and the first "
    "step: ")


def for_non_finite(before: list[float]) -> str:
    """The fix for a run that went non-finite, from the finite values before it: none (the
    inputs first: fresh24 `d24_normalize_zero_std`, a constant feature standardised by its
    std of 0, NaN from the first report), fallen below minus its first value (an objective
    unbounded below), grown more than GROWTH_FACTOR x its first value (an explosion), or
    neither (an undefined op).
    Measured (failure corpus fresh21 `vae_mi_penalty_unbounded`, a VAE loss with `- lambda
    * MI`): 3.97 at batch 16, -23.8 at batch 32, NaN from batch 48."""
    finite = [v for v in before if v == v and abs(v) != float("inf")]
    if not finite:
        return NAN_AT_FIRST + NAN_OPS
    if len(finite) >= 2 and finite[-1] < -abs(finite[0]) and finite[-1] == min(finite):
        return NAN_UNBOUNDED
    if len(finite) >= 2 and abs(finite[-1]) > GROWTH_FACTOR * abs(finite[0]) > 0:
        return NAN_GROWTH
    return NAN_SUDDEN


LEAK = ("memory grows every step: keep Python floats, not lazy arrays, across steps "
        "(`total += loss.item()`), and evaluate the step's state: " + EVAL_STATE + "; state "
        "that `model.parameters()` does not reach is never evaluated and keeps every step's "
        "graph alive: state kept beside the model (an EMA or shadow copy of the weights, "
        "running averages, a metric accumulator: put it in the step's `mx.eval` too), "
        "arrays or sub-modules (BatchNorm running stats) held in a custom "
        "container class, which MLX's Module does not traverse (hold them in a plain list "
        "or dict), or in private attributes; or a model's outputs kept in a list every "
        "step for a metric at the end (the full logits of each batch: keep "
        "`mx.argmax(logits, axis=-1)`, the predictions, or the metric's running counts); or "
        "a buffer that every step appends to and trains on whole: an on-policy rollout "
        "buffer never cleared after its update (clear it once the update has used it), a "
        "replay buffer with no maximum size (a `collections.deque(maxlen=...)`); or a cache "
        "or memo dict kept for the whole run that is never cleared or bounded (a search "
        "tree's node cache, a tokenizer's or a feature's memo, each entry holding copies): "
        "clear it per game or epoch, bound it (`functools.lru_cache(maxsize=...)`), or drop "
        "it; or a module or random array built inside the step and never evaluated (a new "
        "`nn.Linear(...)` or model per call, to copy weights into): each draw splits the "
        "global random key `mx.random.state` lazily, and the unevaluated key chains every "
        "draw of the run (fresh115 `ropeway_sag_nll_bf16`: a bf16 copy of the model built "
        "in the loss, RSS +17.6 KB a step): build it once, or `mx.eval(mx.random.state)` "
        "each step")
LAZY_BACKLOG = ("the model and the optimizer state are never evaluated: each "
                "`optimizer.update` adds to one lazy graph that keeps every step's arrays "
                "alive, and whatever evaluates first (a `float(loss)` at a log line, a "
                "checkpoint) computes the whole backlog at once. Evaluate the updated state "
                "every step: " + EVAL_STATE)
NO_BIAS_CORRECTION = ("; its bias_correction is False (MLX's default for Adam/AdamW, "
                      "unlike PyTorch's): with betas (0.9, 0.999) its early steps are 3-7x "
                      "larger than PyTorch's at the same learning rate for the first ~100 "
                      "steps, so a learning rate ported from PyTorch can throw the model "
                      "into saturation at once: pass `bias_correction=True`, or warm the "
                      "learning rate up (`optim.linear_schedule` joined to the main one)")
EVAL_NEVER_REACHED = (". No `mx.eval` ran at all in this run: if the loop has one, it is never "
                      "reached: behind a condition that never holds, or after a call that "
                      "raises inside a `try`/`except` that swallows the error (an API this "
                      "mlx does not have, e.g. a renamed cache function, raises "
                      "AttributeError there every step); keep the eval outside the try")
LEAK_COMPILED = ("the program compiles a function ({site}): `mx.compile` traces and keeps a "
                 "new graph for every new input shape and every new Python value passed as an "
                 "argument (a str, an int, a float), so memory grows with each distinct one: pad "
                 "inputs to a few fixed lengths (buckets) or `mx.compile(f, shapeless=True)`, "
                 "and pass a changing constant as an `mx.array` or not at all. Otherwise: ")


def leak_for(compile_sites: list[str]) -> str:
    """The leak hint: the compile cache first where the program compiles a function."""
    if not compile_sites:
        return LEAK
    return LEAK_COMPILED.format(site=compile_sites[0]) + LEAK


LOW_PRECISION = ("the model trains in {dtype}: its small updates round away against the "
                 "weights (bfloat16 keeps 8 bits of mantissa) and hand-written norms or "
                 "sums of squares overflow float16 (max 65504): keep float32 master weights "
                 "and train in float32, or compute norms and the loss in float32 "
                 "(`x.astype(mx.float32)`), casting back after. Otherwise: ")
RECOMPILING = ("every step compiles again: `mx.compile` keys its cache on the Python values "
               "and the input shapes it is called with, so a float or int that changes at "
               "each call (a warm-up or schedule factor, a step count, a temperature) is a "
               "constant of a new trace, and each new trace compiles new kernels{where}. "
               "Pass a changing scalar as an array, `step_fn(x, y, mx.array(warm))`, or "
               "compute it inside from an array counter; for shapes that change at every "
               "batch, pad to a few fixed lengths (buckets) or "
               "`mx.compile(fn, shapeless=True)`")
STALE_COMPILED = ("the held-out loss blew up while the training loss stayed flat: the loss "
                  "the program reports does not follow the weights its optimizer changes. It "
                  "compiles ({where}): a compiled function that reads the model without "
                  "receiving it (a closure, `self`) captured its weights as constants at the "
                  "first trace, so every step returns the first weights' loss and gradient "
                  "while the real weights move on: give the compiled function the model's "
                  "state, `partial(mx.compile, inputs=model.state, outputs=model.state)`, or "
                  "compile a function of its arguments only. Otherwise: ")
COMPILED_STEP = ("the program compiles ({where}): a compiled function's captured arrays "
                 "are constants, so a step that draws its batch or its noise with "
                 "`mx.random` without `mx.random.state` in its `inputs`/`outputs` replays "
                 "the same draw every call (`partial(mx.compile, inputs=[model.state, "
                 "optimizer.state, mx.random.state], outputs=[...same])`), and a Python "
                 "value it closes over stays fixed at its first trace. Otherwise: ")
COMPILED_FROZEN = (
    "the program compiles ({where}): a compiled step whose `inputs`/`outputs` leave out "
    "`optimizer.state` keeps the optimizer's state as it was traced: its step count and a "
    "schedule's learning rate stay at their first values, so a warm-up from 0 stays 0 and "
    "nothing moves: `partial(mx.compile, inputs=[model.state, optimizer.state], "
    "outputs=[model.state, optimizer.state])`. Otherwise: ")
NOT_LEARNING = ("the loss does not fall: check the loss really uses the labels, "
                "`nn.losses.cross_entropy(logits[:, :-1], tokens[:, 1:], reduction='mean')`, "
                "with a loss mask aligned to the shifted targets (a mask off by one position "
                "trains on the wrong tokens) and reductions over the right axis (a max or "
                "mean pooled over the whole batch instead of per example mixes the examples); "
                "that the optimizer updates the parameters you train, and that they are "
                "parameters at all: arrays in private attributes (`self._w`) or in "
                "containers MLX does not traverse are not trainable "
                "(`tree_flatten(model.trainable_parameters())` lists what trains); and that "
                "the learning rate is neither tiny for the whole run (a warm-up or a "
                "schedule's decay_steps counted in samples or epochs instead of steps) nor "
                "so high that the first updates saturated the units (a loss stuck at "
                "ln(classes), one class predicted: lower it 10x)")

_HANG_LAZY = ("steps took {ms} ms while RSS grew {mb:.3f} MB/step: the loop builds "
              "a lazy graph it never evaluates, and the first real eval (a log line, a "
              "checkpoint) runs the whole backlog. Evaluate every step: " + EVAL_STATE)
_HANG_BUSY = ("the process kept computing far past its usual step time: see the native "
              "stacks for the op; a graph that grows across steps (missing " + EVAL_STATE +
              ") or an input much larger than before are the usual causes")
THREAD_DIED = ("a thread of the program died ({what}) and the loop waits for what it "
               "would have produced (a `queue.get()` with no timeout, a `join()`): an "
               "exception in a data-loader or prefetch thread ends only that thread, often "
               "on the last, partial batch. Fix that exception, and hand a worker's failure "
               "to the main thread (put the exception on the queue and re-raise it there, or "
               "`queue.get(timeout=...)`)")
_THREAD_DIED = re.compile(r"Exception in thread ([^\n:]+):\n(?:.*\n)*?(\w[\w.]*(?:Error|"
                          r"Exception|Interrupt)\b[^\n]*)")


def thread_died(stderr: str) -> str | None:
    """The hang fix when the program's stderr shows a thread that died of an exception."""
    found = _THREAD_DIED.search(stderr or "")
    if found is None:
        return None
    died = THREAD_DIED.format(what=f"{found[1].strip()}: {found[2].strip()[:200]}")
    entry = known_errors.find(found[2])
    return f"{died}. Its error: {entry.hint}" if entry else died


_HANG_IDLE = ("the process sat idle waiting: a lock, I/O, or a collective (`mx.distributed."
              "all_sum`) that another rank never joined; see the stacks for the blocking call")

STARTUP_IDLE = ("every process waited before the first step: look at the line each process "
                "waits on (below): a main process blocked on a Queue, pipe or `join()` of "
                "workers that wait themselves (a worker that died or never got its task, a "
                "pool started after threads: prefer `mp.get_context('spawn')`), a lock or "
                "socket nobody answers; if the program really waits on something outside "
                "(a server, a file lock), raise `--idle-timeout`")
INTERRUPTED = ("nothing failed: the run was stopped before its end; the evidence shows what "
               "each process was doing at that moment")

_ERRORS = (
    (("broken pipe",), BROKEN_PIPE),
    (("peer", "lost"), "a rank's peer ended (or crashed) while this rank still issued "
                       "collectives: give every rank the same number of steps (equal shards, "
                       "or stop when any rank runs out: all_sum a 'done' flag each step)"),
    (("conv", "channel"), "MLX Conv1d takes NLC (batch, length, channels): transpose PyTorch "
                          "NCL input first, `x = x.transpose(0, 2, 1)`"),
    (("shape",), "an array has the wrong shape: next-token labels shift the sequence axis, "
                 "`tokens[:, 1:]`, not the batch axis `tokens[1:]`"),
    (("broadcast",), "shapes do not line up: check which axis was sliced or shifted, "
                     "`tokens[:, 1:]` vs `tokens[1:]`"),
)


# Known GPU failures (Metal aborts, CUDA allocation failures) name the crash after themselves:
# (crash detail, pattern in stderr or the error message, fix hint), from `known_errors`
METAL_FAILURES = tuple((e.crash, e.pattern, e.hint) for e in known_errors.crash_entries())


def metal_failure(text: str) -> tuple[str, str, str] | None:
    """(crash detail, the line that said so, fix hint) for a known GPU failure text in
    `text` (stderr or an exception's message), None when there is none."""
    for detail, pattern, hint in METAL_FAILURES:
        found = re.search(pattern, text)
        if found:
            start = text.rfind("\n", 0, found.start()) + 1
            end = text.find("\n", found.end())
            return detail, text[start:end if end >= 0 else len(text)].strip()[:500], hint
    return None


def for_error(kind: str, message: str, traceback: str = "") -> str:
    """The fix for an exception: a rule on the traceback's raising line (`causes`); else a
    known MLX error text (`known_errors`) says its cause and fix; else a few word rules;
    else the exception itself. Every hint but the first names the user's raising line."""
    found = tracebacks.frames(traceback)
    explained = causes.cause(kind, message, found)
    return explained if explained else _by_message(kind, message) + causes.where(found)


MESSAGE_CHARS = 240  # of an unknown error's first line, quoted in its hint


def _by_message(kind: str, message: str) -> str:
    text = f"{kind}: {message}"
    known = known_errors.find(text)
    if known is not None:
        return known.hint_for(text) + shape_notes.note(text)
    text = f"{kind} {message}".lower()
    for words, hint in _ERRORS:
        if all(w in text for w in words):
            return hint
    said = message.strip().splitlines()[0][:MESSAGE_CHARS] if message.strip() else ""
    return (f"the loop raised {kind}" + (f" ({said})" if said else "") + ": fix what the "
            "message names (MLX's messages often say the fix); do not swallow it in a fallback")


NATIVE_CRASH = ("a native crash: see stderr_tail for the faulthandler stack{where}. Two "
                "known causes. An index out of bounds: MLX does not check indices, so a "
                "token id at or above the model's vocabulary size (a tokenizer and a model "
                "config that disagree on vocab_size), a class label at or above the number "
                "of classes, or a gather past an axis reads and writes outside the array "
                "(a segfault, a glibc heap abort, or NaN): check once before training, "
                "`assert mx.max(ids).item() < vocab_size` (ml-explore/mlx#206). A very deep "
                "graph, when that line takes or evaluates gradients: the backward pass "
                "recurses over the graph, and a Python loop unrolled into the loss (100k+ "
                "ops) overflows the native stack: unroll fewer steps (fewer, larger time "
                "steps; a matrix power by repeated squaring instead of many small matmuls), "
                "`mx.checkpoint` segments, or evaluate partial results; otherwise report it "
                "with the stack")
FAULT_LINE = re.compile(r'File "([^"]+)", line (\d+) in ')


def for_signal(number: int, stderr: str = "") -> str:
    """A signal's hint; a known text in stderr (a heap corruption) gives its entry's."""
    if number == signal.SIGKILL:
        return "killed with SIGKILL: often the kernel's OOM killer; check peak RSS"
    found = known_errors.find(stderr[-20000:]) if stderr else None
    if found is not None and not found.crash:
        return found.hint_for(stderr[-20000:])
    if number in (signal.SIGSEGV, signal.SIGBUS, signal.SIGABRT):
        return NATIVE_CRASH.format(where=_fault_line(stderr))
    return "the process was ended by a signal: see stderr_tail"


def _fault_line(stderr: str) -> str:
    """` (it crashed at train.py:58)`: the innermost frame faulthandler printed."""
    frames = FAULT_LINE.findall(stderr)
    if not frames:
        return ""
    path, line = frames[0]
    return f" (it crashed at {path.rsplit('/', 1)[-1]}:{line})"


def for_hang(busy: bool, step_ms: float | None, rss_mb_per_step: float | None) -> str:
    if not busy:
        return _HANG_IDLE
    if rss_mb_per_step is not None and rss_mb_per_step > LAZY_RSS_MB_PER_STEP:
        ms = f"{step_ms:.2f}" if step_ms is not None else "?"
        return _HANG_LAZY.format(ms=ms, mb=rss_mb_per_step)
    return _HANG_BUSY
