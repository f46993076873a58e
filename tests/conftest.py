import os
from collections.abc import Iterator

import pytest
import torch
from hypothesis import HealthCheck, settings

from zmix_transforms import _backend

# torch calls vary in speed, so no per-example deadline. CI runs a fixed, derandomized set of examples.
settings.register_profile(
    "dev",
    deadline=None,
    max_examples=60,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "ci",
    deadline=None,
    max_examples=60,
    derandomize=True,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
# A long, random search for a session to run by hand: HYPOTHESIS_PROFILE=deep pytest tests/test_properties.py
settings.register_profile(
    "deep",
    deadline=None,
    max_examples=1000,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))
# make test's later legs (every fast path off; other kernels) run the suite again to find failures
# of other code paths and kernels: a third of the profile's examples each (the first leg runs all)
if os.environ.get("ZMIX_TESTS_LEG"):
    settings.register_profile("leg", parent=settings(), max_examples=max(10, settings().max_examples // 3))
    settings.load_profile("leg")

# Two threads, as on the CI machine; tests stay independent of the host's core count.
torch.set_num_threads(min(2, torch.get_num_threads()))


@pytest.fixture
def routes_on() -> Iterator[None]:
    """Every fast path on, for a test of what a route itself promises (its memory bound, its values).

    The rest of the suite runs with the routes as the environment sets them: ``make test`` runs it
    a second time with ``ZMIX_TRANSFORMS_DISABLE=all``, so the plain paths pass every test too.
    """
    with _backend.routes(**dict.fromkeys(_backend.ROUTES, True)):
        yield
