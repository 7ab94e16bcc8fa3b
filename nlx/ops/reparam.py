"""Reparameterised sampling, and the closed-form KL divergences and entropies that go
with it (CAN's ELBO; any variational method).

Samplers take a PRNG key and differentiable parameters and return samples whose
gradient flows to those parameters:
- `gaussian_rsample`: `mean + exp(log_var / 2) * eps`, eps ~ N(0, I).
- `gumbel_softmax`: Jang et al. / Maddison et al. relaxation of a categorical sample,
  `softmax((logits + g) / tau)` with g ~ Gumbel(0, 1); `hard=True` returns the one-hot
  argmax with the relaxed sample's gradient (straight through).
- `binary_concrete`: the two-class case for C independent Bernoullis (multi-label),
  `sigmoid((logits + log u - log(1 - u)) / tau)` with u ~ U(0, 1); P(sample > 1/2)
  equals sigmoid(logits) for every tau.
Bernoulli quantities take logits (stable through `log_sigmoid`); Gaussian ones take
`(mean, log_var)`. All reduce over the last axis (the event) and keep batch axes.
"""

import math

import jax
import jax.numpy as jnp


def gaussian_rsample(rng: jax.Array, mean: jax.Array, log_var: jax.Array) -> jax.Array:
  return mean + jnp.exp(0.5 * log_var) * jax.random.normal(rng, mean.shape, mean.dtype)


def gumbel_softmax(rng: jax.Array, logits: jax.Array, temperature: float | jax.Array, *,
                   hard: bool = False) -> jax.Array:
  g = jax.random.gumbel(rng, logits.shape, logits.dtype)
  soft = jax.nn.softmax((logits + g) / temperature, axis=-1)
  if not hard:
    return soft
  one_hot = jax.nn.one_hot(jnp.argmax(soft, -1), logits.shape[-1], dtype=soft.dtype)
  return soft + jax.lax.stop_gradient(one_hot - soft)


def binary_concrete(rng: jax.Array, logits: jax.Array, temperature: float | jax.Array, *,
                    hard: bool = False) -> jax.Array:
  u = jax.random.uniform(rng, logits.shape, logits.dtype, minval=1e-6, maxval=1.0 - 1e-6)
  soft = jax.nn.sigmoid((logits + jnp.log(u) - jnp.log1p(-u)) / temperature)
  if not hard:
    return soft
  return soft + jax.lax.stop_gradient((soft > 0.5).astype(soft.dtype) - soft)


def bernoulli_kl(q_logits: jax.Array, p_logits: jax.Array) -> jax.Array:
  """KL(Bern(sigmoid(q)) || Bern(sigmoid(p))), summed over the last axis."""
  q = jax.nn.sigmoid(q_logits)
  log_q1, log_q0 = jax.nn.log_sigmoid(q_logits), jax.nn.log_sigmoid(-q_logits)
  log_p1, log_p0 = jax.nn.log_sigmoid(p_logits), jax.nn.log_sigmoid(-p_logits)
  return jnp.sum(q * (log_q1 - log_p1) + (1.0 - q) * (log_q0 - log_p0), axis=-1)


def bernoulli_entropy(logits: jax.Array) -> jax.Array:
  """H(Bern(sigmoid(logits))) in nats, summed over the last axis."""
  q = jax.nn.sigmoid(logits)
  return -jnp.sum(q * jax.nn.log_sigmoid(logits) + (1.0 - q) * jax.nn.log_sigmoid(-logits),
                  axis=-1)


def gaussian_kl_standard(mean: jax.Array, log_var: jax.Array) -> jax.Array:
  """KL(N(mean, diag(exp(log_var))) || N(0, I)), summed over the last axis."""
  return 0.5 * jnp.sum(jnp.square(mean) + jnp.exp(log_var) - 1.0 - log_var, axis=-1)


def gaussian_entropy(log_var: jax.Array) -> jax.Array:
  """H(N(mean, diag(exp(log_var)))) in nats, summed over the last axis."""
  return 0.5 * jnp.sum(1.0 + math.log(2 * math.pi) + log_var, axis=-1)
