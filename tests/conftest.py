"""Session fixtures: a tiny meta-learner and its artifact (helpers are in ``helpers.py``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from tests.helpers import tiny_meta_train

# Two xdist workers on two cores: one torch thread each, or they spin against each other.
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def tiny_learner() -> Any:
    return tiny_meta_train()


@pytest.fixture(scope="session")
def tiny_artifact(tmp_path_factory: pytest.TempPathFactory, tiny_learner: Any) -> Path:
    path = tmp_path_factory.mktemp("artifact") / "tiny.safetensors"
    tiny_learner.save(path)
    return path
