"""Pure per-example losses for learning with noisy labels (public API).

Every loss maps `(logits [B, C], labels, *, hyperparameters) -> [B]`, with no
reduction, config or global state, so it drops into any JAX training code:

    import nlx.losses as nl
    loss = nl.generalized_cross_entropy(logits, jax.nn.one_hot(y, C), q=0.7).mean()

Labels are integer class indices `[B]` or one-hot / soft rows `[B, C]`; any other shape
raises `LabelShapeError` (never a silent broadcast, even when B == C). Every loss also
takes one example (`logits [C]`, so `jax.vmap(jax.grad(loss))` works), and computes and
returns float32 whatever the logits' dtype. Transition matrices are `T[true, noisy]`,
row-stochastic. Where a paper and its authors' code differ, the default is the paper's
and a keyword selects the code's (`log_zero=OFFICIAL_LOG_ZERO`, `reduced=True`).
"""

from nlx.losses.classification import (
    LabelShapeError,
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
    OFFICIAL_LOG_ZERO,
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
    "OFFICIAL_LOG_ZERO",
    "LabelShapeError",
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
