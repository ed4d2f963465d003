"""Options stated once: config dataclasses, the trainers' signatures and the command line agree."""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable
from typing import Any

import pytest

from sb3_metadqn import MapperConfig, MetaTrainConfig, meta_train, reptile_train
from sb3_metadqn.baselines.reptile import ReptileConfig
from sb3_metadqn.evaluation.methods import METHODS
from sb3_metadqn.options import check_options, convert, dataclass_options, param_docs


@pytest.mark.parametrize(
    ("function", "config"), [(meta_train, MetaTrainConfig), (reptile_train, ReptileConfig)]
)
def test_a_trainer_takes_every_config_field_with_the_same_default(
    function: Callable[..., Any], config: type[Any]
) -> None:
    """The trainers repeat their config's fields as keyword arguments; a field default made
    by a factory is spelt None in the signature."""
    parameters = inspect.signature(function).parameters
    for field in dataclasses.fields(config):
        if field.name == "env_id":
            continue
        assert field.name in parameters, f"{function.__name__} lacks {field.name}"
        given = parameters[field.name].default
        if field.default is dataclasses.MISSING:
            assert given is None, (field.name, given)
        else:
            assert given == field.default, (field.name, given, field.default)


def test_every_config_field_is_documented() -> None:
    for config in (MetaTrainConfig, ReptileConfig, MapperConfig):
        docs = param_docs(config)
        missing = [f.name for f in dataclasses.fields(config) if not docs.get(f.name)]
        assert not missing, f"{config.__name__}: no :param: line for {missing}"


def test_param_docs_joins_continuation_lines_and_shared_entries() -> None:
    def f(a: int = 1, b: int = 2, c: int = 3) -> None:
        """Text.

        :param a: first line
            second line
        :param b, c: shared
        """

    assert param_docs(f) == {"a": "first line second line", "b": "shared", "c": "shared"}


def test_a_json_object_for_a_nested_config_becomes_that_config() -> None:
    options = METHODS["metadqn"].train_options()
    settings = {"mapper": {"rank": 4}, "rounds": 2}
    check_options(settings, options, "--set", "method 'metadqn'")
    converted = convert(settings, options)
    assert converted == {"mapper": MapperConfig(rank=4), "rounds": 2}
    with pytest.raises(ValueError, match=r"--set mapper=\{\"rnak\": 4\}: mapper must be "):
        check_options({"mapper": {"rnak": 4}}, options, "--set", "method 'metadqn'")


def test_every_trainer_option_of_every_method_has_a_type() -> None:
    for method in METHODS.values():
        for option in method.train_options():
            assert option.hint is not inspect.Parameter.empty, (method.name, option.name)
    assert dataclass_options(MetaTrainConfig)[0].name == "num_sources"
