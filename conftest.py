"""Root conftest: names the docstring examples (doctests) of the package may use."""

import importlib.util

import pytest
import torch

from zmix_transforms import functional

# an optional integration's module imports its framework: without it, its doctests are not collected
collect_ignore = [] if importlib.util.find_spec("transformers") else ["zmix_transforms/huggingface.py"]


@pytest.fixture(autouse=True)
def _doctest_namespace(doctest_namespace: dict) -> None:
    doctest_namespace["torch"] = torch
    # the functional package's examples use its public names as their own module did
    doctest_namespace.update({name: getattr(functional, name) for name in functional.__all__})
