"""Wrappers: observe the task descriptor, resample the task at each reset, forward task
assignments to the env."""

from gym_metatasks.wrappers.forward_task_attributes import ForwardTaskAttributes
from gym_metatasks.wrappers.observe_descriptor import ObserveDescriptor
from gym_metatasks.wrappers.resample_task import ResampleTask

__all__ = ["ForwardTaskAttributes", "ObserveDescriptor", "ResampleTask"]
