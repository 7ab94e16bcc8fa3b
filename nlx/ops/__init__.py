"""Reusable pure ops shared by methods (targets, Sinkhorn, reparameterisation, EM, ...)."""
