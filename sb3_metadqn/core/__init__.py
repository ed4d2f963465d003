"""The meta-learning core: initializers, source training and the source bank, backends,
mapper training, the meta-learner and the meta-training loop."""
