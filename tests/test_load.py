"""Many visitors at once, and quick requests while a long job runs (benchmarks/load_test.py
measures the latencies; here only that everything is served, and in what order)."""
import os
import sys
import time

import pytest
from conftest import ROOT
from test_app import MODEL, app_url  # noqa: F401  (the running app fixture)

gradio_client = pytest.importorskip("gradio_client")
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
import load_test  # noqa: E402


def test_eight_simultaneous_visitors_are_all_served(app_url):  # noqa: F811
    for _ in range(2):  # all eight ask for the same images at once: Gradio's cache must not serve half-written files
        results = load_test.visitors(app_url, 8)
        assert len(results) == 8 * len(load_test.VISIT)
        assert all(ok for _, _, ok in results), load_test.visitors.errors


def test_quick_requests_do_not_wait_for_a_long_job(app_url):  # noqa: F811
    """While a 4x4-grid walk renders (the long group), one-image requests (the quick group)
    keep finishing: several of them complete before the walk does."""
    client = gradio_client.Client(app_url, verbose=False)
    walk = client.submit(*MODEL, ",".join(map(str, range(64))), 12, 30, 4, 4, True, 0.7, "const", 0, api_name="/interpolate")
    while walk.status().code.name not in ("PROCESSING", "FINISHED") and not walk.done():
        time.sleep(0.05)
    finished_before_walk = 0
    for seed in range(5):
        client.predict(*MODEL, seed, 0.7, "const", 0, api_name="/generate")
        finished_before_walk += not walk.done()
    video, _, note = walk.result(timeout=300)
    assert "48 frames" in note
    assert finished_before_walk >= 3, finished_before_walk
