"""The meta-learning core: initializers, source training (in checkpointed chunks, on a
backend) and the source bank, fitting the mapping network, the meta-learner, and
meta-training with its configuration."""
