"""CAN: the Contrastive-Additive Noise network with a quality embedding (Yao et al.,
"Deep Learning from Noisy Image Labels with Quality Embedding", IEEE TIP 2019).

Multi-label: noisy labels y~ in {0,1}^C, latent clean labels y in {0,1}^C, and a
Gaussian quality variable s in R^d (prior N(0, I)).
- Prior / classifier: the trainer's model, `p(y | x) = sigmoid(a(x))` (prior logits a).
  It alone predicts at test time.
- Encoder, contrastive layer: a shared FC+ReLU `f` maps p and y~;
  `(mu, log sigma^2) = FC(f(y~) - f(p))` parameterise q(s | x, y~).
- Encoder, additive layer: two non-shared FC+ReLU `g_p`, `g_y`; `q(y | x, y~) =
  sigmoid(FC(g_p(p) + g_y(y~)))` (C Bernoullis). (The ReLUs are our choice where the
  paper's text is lost: without them the additive layer is linear in (p, y~).)
- Sampler: one binary-concrete sample of y at temperature tau and one Gaussian
  reparameterised sample of s per example (`nlx.ops.reparam`).
- Decoder: `p(y~ | y, s) = sigmoid(FC(ReLU(FC([y, s]))))`.
- Objective, per example: `BCE(decoder, y~) + KL(q(y|x,y~) || p(y|x)) +
  KL(q(s|x,y~) || N(0, I)) + mi_weight * (H(q(y|x,y~)) + H(q(s|x,y~)))`, KL terms and
  entropies in closed form; mi_weight = 0.3 (the variational mutual-information
  regulariser).
- Annealing (Eq. 7): with `t = min(1, step / (anneal_epochs * steps_per_epoch))`, the
  gradient reaching the prior is `(1 - t) * grad BCE(p, y~) + t * grad objective`: the
  objective sees the prior logits as `t * a + (1 - t) * stop_gradient(a)` (same value,
  gradient scaled by t) and `(1 - t) * BCE(a, y~)` is added. Encoder and decoder always
  get the objective's full gradient. The temperature, `tau_schedule`:
  "geometric" (nlx's default): the same t drives it, `tau = tau_start * (tau_end /
  tau_start) ** t`; "jang" (the Gumbel-softmax paper's, Jang et al. 2017, which CAN
  cites): `tau = max(tau_end, tau_start * exp(-tau_rate * step))`, step = optimiser step.
- Start (`init`; the paper gives none): "identity" (nlx's default) puts the latent label
  at the observed one, so q(y | x, y~) can only drop labels at first; "balanced" gives
  the prior and the noisy label equal say, q logit `2 g (p + y~ - 1)`: where they agree
  q follows them, where they disagree q starts at 1/2, so q can add a label y~ misses.
Latent-label metrics per step (`aux["metrics"]`, logged to metrics.jsonl), the latent
label being `q(y | x, y~) > 1/2`, against `clean_label` (the given labels where no clean
ones are known), per example: `latent_added_right` / `latent_added_wrong` (entries with
y~ = 0 that the latent label sets, truly positive / not), `latent_removed_right` /
`latent_removed_wrong` (entries with y~ = 1 it clears, truly negative / not),
`latent_positives`, `noisy_positives`; per batch: `latent_precision`, `latent_recall`
(of the latent vector against the clean one) and `mu_std` (std of the quality mean mu
over the batch, averaged over its d dimensions).
Defaults (`default_config`; nlx's choices where the paper gives no number): quality_dim
d = 16, hidden = 128, mi_weight = 0.3, tau from tau_start = 1.0 to tau_end = 0.5 over
anneal_epochs = 10, init_gain g = 3.0, tau_schedule "geometric" (tau_rate 1e-4 for
"jang"), init "identity".
Trust score: none per example is kept; `encode` gives (mu, log sigma^2, q logits) for
any (prior logits, noisy labels), for the quality-embedding figures.
"""

import jax
import jax.numpy as jnp
import ml_collections

from nlx import losses
from nlx.errors import ConfigError
from nlx.ops import reparam

TASKS = ("multi_label",)


def default_config(name: str = "can") -> ml_collections.ConfigDict:
  return ml_collections.ConfigDict({
      "name": name, "quality_dim": 16, "hidden": 128, "mi_weight": 0.3,
      "tau_start": 1.0, "tau_end": 0.5, "anneal_epochs": 10, "init_gain": 3.0,
      "tau_schedule": "geometric", "tau_rate": 1e-4, "init": "identity"})

TAU_SCHEDULES = ("geometric", "jang")
INITS = ("identity", "balanced")


def shrink_for_tiny(config) -> None:
  """The temperature anneals over one epoch, so a tiny run sees the whole schedule."""
  config.anneal_epochs = 1


def _dense(rng, n_in, n_out):
  w = jax.random.normal(rng, (n_in, n_out), jnp.float32) * jnp.sqrt(2.0 / n_in)
  return {"w": w, "b": jnp.zeros((n_out,), jnp.float32)}


def _apply(layer, x):
  return x @ layer["w"] + layer["b"]


def _near_identity(rng, n_in, n_out, gain, bias=0.0, std=0.01):
  """Small random weights plus `gain` on the diagonal (input i -> unit i, i < C)."""
  w = std * jax.random.normal(rng, (n_in, n_out), jnp.float32)
  k = min(n_in, n_out)
  w = w.at[jnp.arange(k), jnp.arange(k)].add(gain)
  return {"w": w, "b": jnp.full((n_out,), bias, jnp.float32)}


def init_state(config, *, dataset, model, rng, **unused):
  """Random encoder for s; the y path (additive layer, decoder) starts near the identity
  y~ -> q(y | x, y~) -> p(y~ | y, s): our choice, not the paper's (whose initialisation
  is not given). From a random start the quality variable alone learns to reconstruct
  y~, q(y | x, y~) collapses onto the prior and the classifier loses its signal once the
  BCE gradient is annealed away (mAP 0.53 against BCE's 0.91 in our synthetic test);
  starting with the latent label at the observed one, s explains only what y cannot."""
  del model, unused
  c, h, d, g = dataset.num_classes, config.hidden, config.quality_dim, config.init_gain
  if h < c:
    raise ConfigError(f"method.hidden={h} must be at least the {c} classes")
  if config.init not in INITS or config.tau_schedule not in TAU_SCHEDULES:
    raise ConfigError(f"method.init must be one of {INITS} and method.tau_schedule one of "
                      f"{TAU_SCHEDULES}; got {config.init!r}, {config.tau_schedule!r}")
  if config.tau_schedule == "jang" and config.tau_rate <= 0:
    raise ConfigError(f"method.tau_rate must be > 0 with tau_schedule='jang' (tau would never "
                      f"anneal or would grow), got {config.tau_rate}")
  balanced = config.init == "balanced"
  keys = jax.random.split(rng, 7)
  params = {
      "contrast": _dense(keys[0], c, h), "quality": _dense(keys[1], h, 2 * d),
      "add_prior": _near_identity(keys[2], c, h, 1.0 if balanced else 0.0),
      "add_noisy": _near_identity(keys[3], c, h, 1.0),
      "posterior": _near_identity(keys[4], h, c, 2 * g, -2 * g if balanced else -g),
      "dec_hidden": _near_identity(keys[5], c + d, h, 1.0),
      "dec_out": _near_identity(keys[6], h, c, 2 * g, -g),
  }
  return params, {}


def encode(params, prior_logits: jax.Array, noisy: jax.Array):
  """`(mu [B, d], log_var [B, d], q_logits [B, C])` of q(s | x, y~) and q(y | x, y~)."""
  p = jax.nn.sigmoid(prior_logits)
  diff = (jax.nn.relu(_apply(params["contrast"], noisy)) -
          jax.nn.relu(_apply(params["contrast"], p)))
  mu, log_var = jnp.split(_apply(params["quality"], diff), 2, axis=-1)
  added = (jax.nn.relu(_apply(params["add_prior"], p)) +
           jax.nn.relu(_apply(params["add_noisy"], noisy)))
  return mu, log_var, _apply(params["posterior"], added)


def decode(params, y: jax.Array, s: jax.Array) -> jax.Array:
  """Logits of p(y~ | y, s) `[B, C]`."""
  hidden = jax.nn.relu(_apply(params["dec_hidden"], jnp.concatenate([y, s], axis=-1)))
  return _apply(params["dec_out"], hidden)


def anneal(step, steps_per_epoch: int, config) -> tuple[jax.Array, jax.Array]:
  """`(t, tau)` at optimiser step `step` (see the module doc for the two schedules)."""
  t = jnp.minimum(1.0, step / max(1, config.anneal_epochs * steps_per_epoch))
  if config.tau_schedule == "jang":
    return t, jnp.maximum(config.tau_end, config.tau_start * jnp.exp(-config.tau_rate * step))
  return t, config.tau_start * (config.tau_end / config.tau_start) ** t


def latent_label_metrics(q_logits, noisy, clean, mu) -> dict:
  """The latent label `q > 1/2` against the noisy and clean label vectors (module doc)."""
  latent = (q_logits > 0).astype(jnp.float32)
  noisy, clean = (noisy > 0.5).astype(jnp.float32), (clean > 0.5).astype(jnp.float32)
  added, removed = latent * (1 - noisy), (1 - latent) * noisy
  hits = jnp.sum(latent * clean)
  return {"latent_added_right": jnp.sum(added * clean, -1),
          "latent_added_wrong": jnp.sum(added * (1 - clean), -1),
          "latent_removed_right": jnp.sum(removed * (1 - clean), -1),
          "latent_removed_wrong": jnp.sum(removed * clean, -1),
          "latent_positives": jnp.sum(latent, -1), "noisy_positives": jnp.sum(noisy, -1),
          "latent_precision": hits / jnp.maximum(jnp.sum(latent), 1.0),
          "latent_recall": hits / jnp.maximum(jnp.sum(clean), 1.0),
          "mu_std": jnp.mean(jnp.std(mu, axis=0))}


def elbo_terms(params, prior_logits, noisy, rng, tau, mi_weight):
  """Per-example `(reconstruction, kl_y, kl_s, entropy)` of the objective."""
  mu, log_var, q_logits = encode(params, prior_logits, noisy)
  rng_y, rng_s = jax.random.split(rng)
  y = reparam.binary_concrete(rng_y, q_logits, tau)
  s = reparam.gaussian_rsample(rng_s, mu, log_var)
  recon = losses.sigmoid_binary_cross_entropy(decode(params, y, s), noisy)
  kl_y = reparam.bernoulli_kl(q_logits, prior_logits)
  kl_s = reparam.gaussian_kl_standard(mu, log_var)
  entropy = mi_weight * (reparam.bernoulli_entropy(q_logits) + reparam.gaussian_entropy(log_var))
  return recon, kl_y, kl_s, entropy


def loss_fn(params, state, outputs, batch, rng, *, config, ctx):
  del state
  noisy = batch["label"].astype(jnp.float32)
  a = outputs.logits.astype(jnp.float32)
  t, tau = anneal(ctx.step, ctx.steps_per_epoch, config)
  a_scaled = t * a + (1.0 - t) * jax.lax.stop_gradient(a)
  recon, kl_y, kl_s, entropy = elbo_terms(params, a_scaled, noisy, rng, tau, config.mi_weight)
  objective = recon + kl_y + kl_s + entropy
  mu, _, q_logits = jax.lax.stop_gradient(encode(params, a, noisy))
  metrics = latent_label_metrics(q_logits, noisy, batch.get("clean_label", noisy), mu)
  return (objective + (1.0 - t) * losses.sigmoid_binary_cross_entropy(a, noisy),
          {"metrics": {**metrics, "tau": tau}})


def quality_embedding(trainer, state, split) -> dict:
  """For a training split: `mu [N, d]` of q(s | x, y~), `posterior [N, C]` = q(y | x, y~),
  `prior [N, C]` = p(y | x) and `trustworthy [N]` (the prior thresholded at 1/2 equals
  the noisy label vector), on the host."""
  import numpy as np
  logits = trainer.predict(state, split)
  noisy = np.asarray(split.labels, np.float32)
  mu, _, q_logits = encode(state.params["method"], jnp.asarray(logits), jnp.asarray(noisy))
  prior = np.asarray(jax.nn.sigmoid(logits))
  return {"mu": np.asarray(mu), "posterior": np.asarray(jax.nn.sigmoid(q_logits)),
          "prior": prior, "trustworthy": np.all((prior > 0.5) == (noisy > 0.5), axis=1)}


def conditional_transitions(latent, noisy, groups, num_groups: int):
  """`[G, C, C]`: T[g, i, j] = P(noisy_j = 1 | latent_i = 1, group g), from 0/1 `[N, C]`
  latent and noisy label vectors and a group id `[N]` per example (NaN for a class
  with no latent positive in the group)."""
  import numpy as np
  latent, noisy = np.asarray(latent, float), np.asarray(noisy, float)
  out = []
  for g in range(num_groups):
    m = np.asarray(groups) == g
    counts = latent[m].sum(0)[:, None]
    with np.errstate(invalid="ignore", divide="ignore"):
      out.append(np.where(counts > 0, latent[m].T @ noisy[m] / counts, np.nan))
  return np.stack(out)
