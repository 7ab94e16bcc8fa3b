"""Pure per-example losses for learning with noisy labels (public API).

Every loss maps `(logits [B, C], labels [B, C], *, hyperparameters) -> [B]`, with no
reduction, config or global state, so it drops into any JAX training code.
"""

from nlx.losses.classification import as_distribution
from nlx.losses.classification import softmax_cross_entropy
from nlx.losses.classification import softmax_cross_entropy_with_integer_labels

__all__ = [
    "as_distribution",
    "softmax_cross_entropy",
    "softmax_cross_entropy_with_integer_labels",
]
