"""Persistence: the artifact format and its registry of kinds, space descriptions, and
training checkpoints."""
