"""MetaDQN: a Stable-Baselines3 DQN whose Q-network is initialized through a learned
mapping network from a bank of Q-networks trained on related tasks."""

__version__ = "0.1.0"
