import os

import torch
from hypothesis import HealthCheck, settings

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
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))

# Two threads, as on the CI machine; tests stay independent of the host's core count.
torch.set_num_threads(min(2, torch.get_num_threads()))
