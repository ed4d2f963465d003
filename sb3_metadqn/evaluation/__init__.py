"""Evaluation: greedy rollouts and the transfer metrics (below the meta-learning core), the
methods registry and the transfer protocol (on top of everything).

This package's ``__init__`` imports nothing, so the core can use the rollouts without
loading the methods registry."""
