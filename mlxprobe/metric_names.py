"""What a metric's name says about it: a loss, an accuracy, a position, a rate, or unknown.

Job: the vocabulary both sides share. The output parser (`watching/output.py`) uses it to
tell a step counter from a metric and to pick a line's training loss whatever the program
calls it (`loss`, `train_loss`, `mse`, `nll`, `ppl`, ...); the verdict (`judging/`) uses it
to know which way a metric should move and which numbers are not learning evidence at all
(timings, throughput, memory).

Roles and why:
- LOSS (lower is better): names holding `loss` and the usual error measures (mse, mae, rmse,
  nll, ce, bce, xent, err, error, cost, ppl, perplexity, l1, smooth_l1, huber, hinge, and a
  bandit's or an online learner's regret), and the negative ELBO (`neg_elbo`, `nelbo`, a
  printed `-elbo`, kept as `minus_elbo`). KL and a bare ELBO are kept out: KL often rises
  while a VAE learns, and a bare `elbo`'s sign depends on the program, so neither may decide
  learning or an explosion; they still count for non-finite values (the output parser
  judges an `elbo` printed below 0 as the ELBO itself, through its negative: `fields`). A
  name written negated (`-loss`) runs the other way: OTHER.
  Nor is a norm (`l1_norm`, `weight_norm`): a norm of the weights grows as a model
  learns; nor a running total (`cum_regret`, `cumulative_loss`), which grows by construction;
  nor a reference printed beside the loss (`const_rate_nll`, `baseline_mse`, `oracle_loss`,
  `teacher_loss`), fixed by construction.
- ACCURACY (higher is better): acc, accuracy, f1, auc, precision, recall, reward (`rew`, as
  Stable-Baselines3's `ep_rew_mean`), return, score, bleu, rouge, iou, and the retrieval and
  image measures (hit, hits, mrr, ndcg, map, top1/top5, psnr, ssim), a share of exact
  matches as QA scores it (`em`, `val_em`: fresh351 `ledger_quay_span`), a share of exact
  matches (`exact_match`, `greedy match`: fresh251 `ropewalk_tarring_grpo_ok`), also with a cut-off
  (`recall@1`, `hit@10`, `ndcg@5`). Not judged for learning by the trend (a noisy reward is
  normal).
- Agreement measures (a rank or linear correlation: `kendall_tau`, `spearman`, `pearson`,
  `corr`; a concordance index, `c_index`; an R²) keep the role OTHER, as they have no chance
  level nor a ceiling the accuracy rules read, but are higher-is-better (`lower_is_better`):
  one that rises is learning evidence (fresh37 `plackett_luce_races_ical`: kendall_tau 0.872
  -> 0.962 while a noisy last-batch NLL wobbled at its level). A bare `tau` or `rho` is left
  out: a temperature or a coefficient is often printed under those names.
- POSITION: step/iteration/epoch/batch counters (and RL's `total_timesteps`). Never a metric.
- RATE: time, throughput, memory, counts of tokens: never learning evidence and never
  `diverged` (an `inf` tokens/s after a zero elapsed time is harmless).
- a validation prefix (val, valid, eval, test, dev) marks a held-out metric: never the
  training loss.

Written by hand: the words are ours to choose. Standard library only.
Must not import: mlx, any other part of mlxprobe.
"""

from __future__ import annotations

import re

LOSS, ACCURACY, POSITION, RATE, OTHER = "loss", "accuracy", "position", "rate", "other"

TIMESTEPS = frozenset({"timesteps", "total_timesteps", "num_timesteps"})  # an RL run's counter
POSITIONS = frozenset({"step", "steps", "iter", "iters", "iteration", "iterations", "it",
                       "update", "updates", "upd", "global_step", "batch", "epoch", "ep", "episode",
                       "round", "n_iter", "gstep", "train_step", "batch_idx", "idx"}) | TIMESTEPS
_RATE = re.compile(r"(?:^|_)(?:time|times|elapsed|eta|s|sec|secs|second|seconds|ms|took|"
                   r"duration|speed|throughput|tok|toks|tokens|token|samples|mem|memory|"
                   r"peak|gb|mb|kb|bytes|it/s|it/sec|wall|clock|date|seed|size|count|n|"
                   r"params|parameters|gpu|cpu)(?:$|_|/)|/s(?:ec)?$|per_s(?:ec)?$")
# `held_out_loss`: fresh111 `slice_head_lora`'s `base model held-out loss 0.4563`
_VALIDATION = re.compile(r"^(?:val|valid|validation|eval|evaluation|test|dev|holdout|held_?out)"
                         r"(?:_|$)")
_LOSS_WORDS = (r"(?:mse|mae|rmse|nll|ce|bce|xent|err|error|errors|cost|ppl|perplexity|bpc|bpb|"
               r"recon|reconstruction|regret)")
# the name of a loss itself, at the end of a name (`train_l1`, `huber`), never its weight
# or its schedule (`l1_w`, `l1_weight`: a coefficient that ramps up on purpose)
_LOSS_NAMES = r"(?:l1|smooth_l1|huber|hinge)"
_LOSS = re.compile(rf"loss|(?:^|_){_LOSS_WORDS}(?:$|_)|(?:^|_){_LOSS_NAMES}$")
_ACCURACY = re.compile(r"(?:^|_)(?:acc|accuracy|f1|auc|precision|recall|reward|rewards|rew|"
                       r"return|returns|score|rating|ratings|bleu|rouge|iou|hit|hits|mrr|ndcg|map|top1|"
                       r"top5|psnr|ssim|match|matches|em)(?:$|_|@)")
# one side of a two-player objective (a GAN's generator or discriminator, a critic): its value
# goes to an equilibrium (a discriminator's BCE to ln 4), not down, as both players learn
_ADVERSARIAL = re.compile(r"(?:^|_)(?:d|g|disc|discriminator|gen|generator|critic|adv|"
                          r"adversarial)(?:$|_)")
_NEVER_PRIMARY = re.compile(r"(?:^|_)(?:kl|kld|elbo)(?:$|_)")
# the negative ELBO, the loss of variational inference (`-elbo`, `neg_elbo`, `nelbo`)
_NEGATIVE_ELBO = re.compile(r"(?:^|_)(?:(?:neg|negative|minus)_elbo|nelbo)(?:$|_)")
# the ELBO itself, a bound on a log-likelihood to maximise (`elbo`, `train_elbo`)
_ELBO = re.compile(r"^(?:(?:train|training|avg|mean|batch)_)?elbo$")
_LOG_VARIANCE = re.compile(r"log_?(var|variance|sigma|std|scale)(?![a-z])")
_KL = re.compile(r"(?:^|_)(?:kl|kld)(?:$|_)")
# a norm of weights or gradients (`l1_norm`, `w_norm`): it grows as a model learns
_NORM = re.compile(r"(?:^|_)norm(?:$|_)")
# a running total (`cum_regret`, `cumulative_loss`): it grows by construction, whatever the
# run learns
_CUMULATIVE = re.compile(r"(?:^|_)(?:cum|cumulative)(?:$|_)")
# a reference the program prints beside its loss (`const_rate_nll`, `baseline_mse`,
# `oracle_loss`, `teacher_loss`, a trivial predictor's `identity_mse`, `naive_mae`,
# `persistence_rmse`): fixed by construction, never the run's loss (fresh25 `zip_claims_csv`:
# a constant-rate Poisson's NLL, 1.73747 at every epoch; fresh36 `compiled_noise_state`: the
# identity map's mse, 0.2402 at every report, read once its table's header was)
_REFERENCE = re.compile(r"(?:^|_)(?:const|constant|baseline|oracle|reference|ref|teacher|"
                        r"null|chance|uniform|bayes|identity|naive|persistence|trivial|"
                        r"dummy|prior|clim|climatology|majority|mean_predictor|unigram|bigram|"
                        r"trigram|ngram|most_frequent|most_common)(?:$|_)")
# `most_frequent`: the most frequent class's accuracy, scikit-learn's DummyClassifier strategy
# (fresh387 `ferry_manifest_stablelm_stages`); `prior_ce`: the class prior's, fresh122;
# `clim_mae`: a climatology's, fresh164; an n-gram model's (`bigram_bpc`, `unigram_bpc`: a
# language model's count baselines, fresh313 `apiary_ternary_charlm`, fresh331
# `reel_abc_seqwarm`)
# `balloon_propane_quantile_folds`, read once its barred header was (stop 64)


LEARNING_RATES = ("lr", "learning_rate")  # normalised names of a reported learning rate


NEGATED_WORD = re.compile(r"(?<=[\s_])-(?=[a-z])")  # `test -elbo`, `val_-loglik`


def words(name: str) -> list[str]:
    """A name's words, lower case, split at anything but letters and digits (`val_MAE` ->
    `val`, `mae`)."""
    return [w for w in re.split(r"[^a-z0-9]+", name.lower()) if w]


def normal(name: str) -> str:
    """`Train Loss:` -> `train_loss`; `Learning-Rate` -> `learning_rate`; a name written
    negated, `-elbo`, -> `minus_elbo`, also after a qualifier (`test -elbo` -> `test_minus_elbo`:
    fresh113 `glacier_hydrograph_vae_anneal`'s table column)."""
    text = name.strip().strip(":=|,;()[]{}'\"").lower()
    negated = text[:1] == "-" and text[1:2].isalpha()
    text = NEGATED_WORD.sub("minus_", text)
    text = re.sub(r"[\s\-]+", "_", text).strip("_")
    return f"minus_{text}" if negated else text


def variant_of(name: str) -> str:
    """The metric a model variant's reading is of (`val_mse:fused`, the output reader's name
    for `val_mse adapters=0.011 fused=0.638`: `val_mse`); any other name itself."""
    return name.split(":", 1)[0]


def role(name: str) -> str:
    """The role of a normalised name (see the module's docstring); a model variant's reading
    (`val_mse:fused`) has its metric's."""
    name = variant_of(name)
    if name in POSITIONS:
        return POSITION
    if name in LEARNING_RATES:
        return OTHER
    if _RATE.search(name):
        return RATE
    if _NEGATIVE_ELBO.search(name):
        return LOSS
    if name.startswith("minus_"):
        return OTHER  # a negated metric (`-loss`) runs the other way; which, its name hides
    if _LOSS.search(name) and not (_NEVER_PRIMARY.search(name) or _NORM.search(name)
                                   or _CUMULATIVE.search(name) or reference(name)):
        return LOSS
    if _ACCURACY.search(name):
        return ACCURACY
    return OTHER


_STAGE = re.compile(r"(?i)(?:^|_)(?:stage|phase|curriculum)(?:$|_|\d)")


_OBJECTIVE = re.compile(r"(?:^|_)(?:reward|rewards|rew|return|returns|score|rating|ratings)"
                        r"(?:$|_|@)")


# the coefficient of determination (`r2`, `r2_logp`, `val_r2`, `r_squared`, `r2_score`):
# 1 is perfect, 0 is the targets' mean, below 0 worse than that mean
_EXPLAINED = re.compile(r"(?:^|_)(?:r2|r_2|rsq|r_sq|rsquared|r_squared|r2_score|"
                        r"explained_variance)(?:$|_)")


def explained_variance(name: str) -> bool:
    """A coefficient of determination (R²): below 0 is worse than predicting the mean."""
    return bool(_EXPLAINED.search(name))


def objective(name: str) -> bool:
    """A higher-is-better name that is an objective, not a task's accuracy (a reward, a
    return, a score): it may sit at 0 or rise for long while a run learns."""
    return bool(_OBJECTIVE.search(name))


# a counter of repeated runs, each from scratch: `fold`, `seed`, `trial`, `repeat`
_REPEAT = re.compile(r"(?i)^(?:k_?)?(?:fold|seed|trial|repeat|replicate)s?(?:_(?:id|idx|no))?$")


def repeat_counter(name: str) -> bool:
    """A counter of the program's repeated runs (`fold`, `seed`): where it changes, a new
    model is trained from scratch."""
    return bool(_REPEAT.search(name))


def stage_counter(name: str) -> bool:
    """A counter of the program's own stages (`stage`, `phase`, `curriculum_stage`): where
    it changes, the program says a new task (longer sequences, a harder set) begins."""
    return bool(_STAGE.search(name))


def adversarial(name: str) -> bool:
    """A loss of one player of a two-player game (`d_loss`, `loss_G`, `critic_loss`): its
    fall is no measure of learning."""
    return role(name) == LOSS and bool(_ADVERSARIAL.search(name))


def kl(name: str) -> bool:
    """A KL divergence term (`kl`, `kld`, `kl_loss`): never the loss, and a VAE's variance
    shows in it."""
    return bool(_KL.search(name.lower()))


def log_variance(name: str) -> bool:
    """A log-variance or log-scale the program prints (`logvar`, `mean_logvar`, `log_var`,
    `log_sigma`, `log_std`): a trained one sits within a few units of 0."""
    return bool(_LOG_VARIANCE.search(name.lower()))


def elbo(name: str) -> bool:
    """The ELBO itself (`elbo`, `train_elbo`), not its negative: a log-likelihood bound the
    run maximises."""
    return bool(_ELBO.match(name))


_VARIATIONAL = re.compile(r"(?:^|_)n?elbo(?:$|_)")


def variational(name: str) -> bool:
    """An ELBO or its negative (`elbo`, `neg_elbo`, `minus_elbo`, `nelbo`, `train_elbo`)."""
    return bool(_VARIATIONAL.search(name))


def held_out(name: str) -> bool:
    """A validation/test metric: never the training loss."""
    return bool(_VALIDATION.search(name))


def held_out_loss(name: str) -> bool:
    """A validation/test error measure (`val_loss`, `test_nll`): `held_out` with the role of
    a loss."""
    return held_out(name) and role(name) == LOSS


_ERROR = re.compile(r"(?:^|_)(?:err|error|errors|wer|cer)(?:$|_)")


def error_measure(name: str) -> bool:
    """A share of wrong answers (`error_rate`, `val_err`, `wer`) when its values lie in
    [0, 1]: a loss by role, the complement of an accuracy."""
    return role(name) == LOSS and bool(_ERROR.search(normal(name)))


def loss_rank(name: str) -> int | None:
    """How good a candidate for the training loss `name` is (lower wins), None if not one:
    `loss` itself, then `train(ing)_loss` or another loss measure named as the training one
    (`train_bpc`), then other names holding `loss` (a total before its parts), then the error
    measures. Never a share of errors named a rate (`error_rate`): counted from answers, it
    is no objective a gradient descends, and it is printed beside a held-out loss (fresh360
    `reedbank_dictation`: `val loss 3.2613  digit error rate 0.872`)."""
    if role(name) != LOSS or held_out(name) or name.endswith(("_rate", "_rates")):
        return None
    if name == "loss":
        return 0
    if name in ("total_loss", "avg_loss", "mean_loss") or _TRAINING.match(name):
        return 1
    return 2 if "loss" in name else 3


# a loss measure the name gives as the training one (`train_bpc`, `train_ce`): it outranks an
# unprefixed part of the objective (fresh331 `reel_abc_seqwarm`, correct: `train_bpc=1.634
# zloss=61.19` read its rising auxiliary z-loss as the loss, `not_learning:trend`)
_TRAINING = re.compile(r"(?:train|training)_")


# an agreement measure, higher is better, that is no task accuracy (no chance level, no
# ceiling of 1 as a fraction of hits): a rank or linear correlation (`kendall_tau`,
# `spearman`, `pearson_r`, `corr`), a concordance index (`c_index`), an R²
_AGREEMENT = re.compile(r"(?:^|_)(?:kendall|spearman|pearson|corr|correlation|concordance|"
                        r"c_index|cindex)(?:$|_)")


def lower_is_better(name: str) -> bool | None:
    """True for a loss, False for an accuracy or an agreement measure (a correlation, a
    concordance index, an R²), None when the name does not say."""
    found = role(name)
    if found == LOSS:
        return True
    upward = found == ACCURACY or _AGREEMENT.search(name) or explained_variance(name)
    return False if upward else None


def reference(name: str) -> bool:
    """A reference the program prints beside its metrics (`baseline_mse`, `chance`,
    `most_frequent`): fixed by the data it is computed on, not by the model."""
    return _REFERENCE.search(name) is not None


def judged_for_finite(name: str) -> bool:
    """Whether a non-finite value of this metric means the run diverged (not a rate, nor a
    reference's value: `naive_gives -inf` is what a naive formula gives)."""
    return role(name) not in (RATE, POSITION) and not reference(name)
