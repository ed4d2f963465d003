"""The agents: WarmStartDQN, MetaDQN, the task-conditioned DQN and tabular Q-learning."""
