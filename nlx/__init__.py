"""nlx: learning with noisy labels in JAX/Flax."""

__version__ = "0.1.0"
