"""Pure per-example losses for learning with noisy labels (public API).

Every loss maps `(logits [B, C], labels [B, C], *, hyperparameters) -> [B]`, with no
reduction, config or global state, so it drops into any JAX training code:

    import nlx.losses as nl
    loss = nl.generalized_cross_entropy(logits, jax.nn.one_hot(y, C), q=0.7).mean()

Labels are one-hot or soft `[B, C]` (`as_distribution` turns integer labels into
one-hot). Transition matrices are `T[true, noisy]`, row-stochastic.
"""

from nlx.losses.classification import (
    as_distribution,
    binary_cross_entropy,
    forward_corrected_cross_entropy,
    label_smoothing_cross_entropy,
    sigmoid_binary_cross_entropy,
    softmax_cross_entropy,
    softmax_cross_entropy_with_integer_labels,
)
from nlx.losses.regularizers import elr_regularizer
from nlx.losses.robust import (
    active_passive_loss,
    bootstrap_hard,
    bootstrap_soft,
    generalized_cross_entropy,
    mean_absolute_error,
    normalized_cross_entropy,
    reverse_cross_entropy,
    sigmoid_bootstrap_hard,
    sigmoid_bootstrap_soft,
    symmetric_cross_entropy,
    taylor_cross_entropy,
    truncated_generalized_cross_entropy,
)

__all__ = [
    "active_passive_loss",
    "as_distribution",
    "binary_cross_entropy",
    "bootstrap_hard",
    "bootstrap_soft",
    "elr_regularizer",
    "forward_corrected_cross_entropy",
    "generalized_cross_entropy",
    "label_smoothing_cross_entropy",
    "mean_absolute_error",
    "normalized_cross_entropy",
    "reverse_cross_entropy",
    "sigmoid_binary_cross_entropy",
    "sigmoid_bootstrap_hard",
    "sigmoid_bootstrap_soft",
    "softmax_cross_entropy",
    "softmax_cross_entropy_with_integer_labels",
    "symmetric_cross_entropy",
    "taylor_cross_entropy",
    "truncated_generalized_cross_entropy",
]
