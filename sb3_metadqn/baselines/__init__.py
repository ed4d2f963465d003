"""The baselines' initializers and artifacts: nearest source and source average on a bank,
Reptile, the hypernetwork, the table bank with its meta tabular agent, and the
task-conditioned DQN's pretraining (on rewards, and on the exact Q*)."""
