"""A stand-in for the `spaces` package on a ZeroGPU Space, for tests: GPU(duration=...) runs each
call in a forked process with its arguments and its result pickled across, as ZeroGPU's worker
does, so whatever a call caches is lost unless it comes back with the result. It records what
was decorated and the durations asked for (in CALLS, shared through the main process)."""
import multiprocessing
import pickle
import traceback

DECORATED = {}   # function name -> duration (as given)
CALLS = []       # (function name, seconds asked for)


def _child(queue, task, args, kwargs, generator):
    try:
        if generator:
            for item in task(*args, **kwargs):
                queue.put(("item", pickle.dumps(item)))
            queue.put(("end", None))
        else:
            queue.put(("value", pickle.dumps(task(*args, **kwargs))))
    except BaseException as e:  # noqa: BLE001 - handed to the parent, as ZeroGPU does
        try:
            queue.put(("error", pickle.dumps(e)))
        except Exception:
            queue.put(("error", pickle.dumps(RuntimeError(traceback.format_exc()))))


def GPU(task=None, *, duration=None, size=None):
    if task is None:
        return lambda fn: GPU(fn, duration=duration, size=size)
    import functools
    import inspect
    generator = inspect.isgeneratorfunction(task)
    DECORATED[task.__name__] = duration
    ctx = multiprocessing.get_context("fork")

    def start(args, kwargs):
        seconds = duration(*args, **kwargs) if callable(duration) else (duration or 60)
        CALLS.append((task.__name__, seconds))
        pickle.dumps((args, kwargs))  # what ZeroGPU would send
        queue = ctx.Queue()
        proc = ctx.Process(target=_child, args=(queue, task, args, kwargs, generator))
        proc.start()
        return proc, queue

    if generator:
        @functools.wraps(task)
        def gen(*args, **kwargs):
            proc, queue = start(args, kwargs)
            try:
                while True:
                    kind, payload = queue.get(timeout=300)
                    if kind == "end":
                        return
                    value = pickle.loads(payload)
                    if kind == "error":
                        raise value
                    yield value
            finally:
                proc.join(timeout=30)
        return gen

    @functools.wraps(task)
    def call(*args, **kwargs):
        proc, queue = start(args, kwargs)
        kind, payload = queue.get(timeout=300)
        proc.join(timeout=30)
        value = pickle.loads(payload)
        if kind == "error":
            raise value
        return value
    return call
