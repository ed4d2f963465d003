"""Networks: the Q-network as batched layers, the grid planner, the mapping network, the
hypernetwork and the task-embedding features extractor."""
