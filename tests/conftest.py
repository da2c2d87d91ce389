import json
import os
import sys

import pytest
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
FIXTURES = os.path.join(ROOT, "tests", "fixtures")

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


def fixture_names():
    return sorted(d for d in os.listdir(FIXTURES) if os.path.isfile(os.path.join(FIXTURES, d, "cases.json")))


def fixture_config(name):
    with open(os.path.join(FIXTURES, name, "config.json")) as f:
        return json.load(f)


@pytest.fixture(autouse=True)
def _fresh_load_cache():
    import stylegan
    stylegan.clear_cache()
    yield
    stylegan.clear_cache()
