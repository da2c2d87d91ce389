"""Load test of the running Space through gradio_client: simultaneous visitors, and quick
requests while a long job runs.

    python benchmarks/load_test.py                 # starts the app itself (embedded model, offline)
    python benchmarks/load_test.py --url http://127.0.0.1:7860

1. Visitors: N (8) clients at once (3 rounds), each doing what a visitor does on every tab of the embedded
   model (model info, one image, a gallery of 8, a mixing grid, a SeFa strip, a StyleSpace
   edit, a short walk). Reports how many requests were served and their latencies.
2. Quick under a long job: a 4x4-grid walk of ~600 frames (16 images a frame) runs while one
   64 px image is asked for every 0.5 s; reports those latencies, and the same requests on an
   idle server measured in the same run, for the ratio.
Results: benchmarks/results/load_cpu.json (or --out).
"""
import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL = ("avataaars-64", "", None)
VISIT = [  # (api_name, arguments after the model)
    ("/model_info", ()),
    ("/generate", (3, 0.7, "const", 0)),
    ("/generate_seeds", ("0-7", 0.7, 0, "const", 0, 0, 0, 0)),
    ("/style_mix", ("1-3", "10-12", "middle", 0, 0, 0.7, "const", 0)),
    ("/direction", (3, "SeFa", 1, None, 3, 0, 9, 0.7, 0, None)),
    ("/stylespace", (3, "b16.conv1", 5, 10, 0.7, 0)),
    ("/interpolate", ("0-2", 8, 10, 1, 1, True, 0.7, "const", 0)),
]
LONG_WALK = ("/interpolate", (",".join(map(str, range(256))), 37, 30, 4, 4, True, 0.7, "const", 0))  # 592 frames
QUICK = ("/generate", (7, 0.7, "const", 0))


def start_app(port):
    env = dict(os.environ, GRADIO_SERVER_NAME="127.0.0.1", GRADIO_SERVER_PORT=str(port), GRADIO_ANALYTICS_ENABLED="False",
               HF_HUB_OFFLINE="1")
    proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise RuntimeError("the app did not start")


def visitors(url, n=8):
    """n clients at once, each visiting every tab; returns [(api_name, seconds, ok)]."""
    from gradio_client import Client
    results, lock = [], threading.Lock()
    errors = visitors.errors = []
    barrier = threading.Barrier(n)

    def visit():
        client = Client(url, verbose=False)
        barrier.wait()
        for name, args in VISIT:
            t0 = time.monotonic()
            try:
                client.predict(*MODEL, *args, api_name=name)
                ok = True
            except Exception as e:
                ok = False
                with lock:
                    errors.append(f"{name}: {type(e).__name__}: {str(e)[:200]}")
            with lock:
                results.append((name, time.monotonic() - t0, ok))
    threads = [threading.Thread(target=visit) for _ in range(n)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    return results


def quick_latencies(client, count, every=0.5, while_job=None):
    """Latencies of `count` quick requests, one every `every` s; with while_job, only those that
    finished while that job was still running count (returns them and how many did)."""
    out = []
    for _ in range(count):
        t0 = time.monotonic()
        client.predict(*MODEL, *QUICK[1], api_name=QUICK[0])
        dt = time.monotonic() - t0
        if while_job is None or not while_job.done():
            out.append(dt)
        time.sleep(max(0.0, every - dt))
        if while_job is not None and while_job.done():
            break
    return out


def under_long_job(url, quick_count=40):
    from gradio_client import Client
    client = Client(url, verbose=False)
    idle = quick_latencies(client, 10, every=0.1)
    job = client.submit(*MODEL, *LONG_WALK[1], api_name=LONG_WALK[0])
    time.sleep(1.0)  # let the walk start
    t0 = time.monotonic()
    busy = quick_latencies(client, quick_count, while_job=job)
    job.result(timeout=600)
    return {"idle": idle, "busy": busy, "long_job_seconds_after_first_quick": time.monotonic() - t0}


def summary(xs):
    xs = sorted(xs)
    if not xs:
        return {}
    return {"n": len(xs), "median_s": round(statistics.median(xs), 4), "p90_s": round(xs[int(0.9 * (len(xs) - 1))], 4),
            "max_s": round(xs[-1], 4)}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--url")
    p.add_argument("--visitors", type=int, default=8)
    p.add_argument("--rounds", type=int, default=3, help="rounds of simultaneous visits")
    p.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "results", "load_cpu.json"))
    args = p.parse_args()
    proc = None
    url = args.url
    if url is None:
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        proc = start_app(port)
        url = f"http://127.0.0.1:{port}"
    try:
        from gradio_client import Client
        Client(url, verbose=False).predict(*MODEL, api_name="/model_info")  # warm up
        t0 = time.monotonic()
        visits = []
        for _ in range(args.rounds):
            visits += visitors(url, args.visitors)
        wall = (time.monotonic() - t0) / args.rounds
        long = under_long_job(url)
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=30)
    per_endpoint = {name: summary([t for n, t, ok in visits if n == name]) for name, _ in VISIT}
    result = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "visitors": args.visitors,
        "requests": len(visits), "served": sum(ok for _, _, ok in visits), "errors": visitors.errors,
        "wall_s": round(wall, 2),
        "per_endpoint": per_endpoint,
        "quick_64px_idle": summary(long["idle"]),
        "quick_64px_during_600_frame_walk": summary(long["busy"]),
        "busy_over_idle_median": round(statistics.median(long["busy"]) / statistics.median(long["idle"]), 2)
        if long["busy"] and long["idle"] else None,
    }
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
