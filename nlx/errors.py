"""Errors that nlx raises for bad input: each says in one line what is wrong."""


class NlxError(Exception):
  """Base class of the errors a user can fix (data, config, numerics)."""


class DataError(NlxError):
  """A dataset is missing, malformed or inconsistent."""


class ConfigError(NlxError):
  """A config value is invalid or inconsistent with the data."""


class NonFiniteLossError(NlxError):
  """Training produced a NaN or Inf loss; the last good checkpoint is kept."""
