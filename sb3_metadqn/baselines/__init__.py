"""The baselines' initializers and artifacts: nearest source and source average on a bank,
Reptile, the hypernetwork, the table bank with its meta tabular agent, the
task-conditioned DQN's pretraining (on rewards, and on the exact Q*), and the recommendation
bandits (LinUCB, most-popular) with their population pretraining."""
