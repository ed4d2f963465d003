"""Wrappers: observe the task descriptor, resample the task at each reset."""

from gym_metatasks.wrappers.observe_descriptor import ObserveDescriptor
from gym_metatasks.wrappers.resample_task import ResampleTask

__all__ = ["ObserveDescriptor", "ResampleTask"]
