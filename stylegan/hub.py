"""Downloads from the Hugging Face Hub through huggingface_hub: its cache, `revision`,
`HF_TOKEN`, `HF_ENDPOINT` and offline mode (`HF_HUB_OFFLINE=1`) all apply. Every failure
becomes a HubError that says which repo and file were wanted and why they could not be had.
"""
import os
import socket
import threading
import time
import urllib.parse
from dataclasses import dataclass
from typing import Optional

import huggingface_hub
from huggingface_hub import errors as hf_errors

from .errors import CheckpointError

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "diffusion_pytorch_model.safetensors"  # what diffusers' save_pretrained writes


class HubError(CheckpointError):
    """A model that could not be fetched from the Hub."""


@dataclass(frozen=True)
class HubSource:
    repo: str                       # "owner/name"
    file: Optional[str] = None      # a file in the repo, None = a Hub-native model
    revision: Optional[str] = None  # branch, tag or commit

    def __str__(self):
        rev = f"@{self.revision}" if self.revision else ""
        return f"{self.repo}{rev}" + (f"/{self.file}" if self.file else "")


def parse_hub_id(source: str) -> Optional[HubSource]:
    """'owner/repo', 'owner/repo@rev', 'owner/repo/path/file.pkl' -> HubSource, else None."""
    parts = source.strip().split("/")
    if len(parts) < 2 or any(not p for p in parts) or source.startswith((".", "~")):
        return None
    owner, name = parts[0], parts[1]
    revision = None
    if "@" in name:
        name, revision = name.split("@", 1)
    repo = f"{owner}/{name}"
    try:
        huggingface_hub.utils.validate_repo_id(repo)
    except hf_errors.HFValidationError:
        return None
    return HubSource(repo=repo, file="/".join(parts[2:]) or None, revision=revision)


_reachable_cache = {}


def hub_reachable(timeout: float = 3.0) -> bool:
    """Can a TCP connection to the Hub endpoint be opened? (Remembered for a minute.)

    huggingface_hub retries a failed request five times with back-off (about 25 s);
    asking first lets an offline machine fall back to the cache, or fail, at once."""
    endpoint = os.environ.get("HF_ENDPOINT") or huggingface_hub.constants.ENDPOINT
    url = urllib.parse.urlparse(endpoint)
    port = url.port or (443 if url.scheme == "https" else 80)
    key = (url.hostname, port)
    now = time.monotonic()
    if key in _reachable_cache and now - _reachable_cache[key][1] < 60:
        return _reachable_cache[key][0]
    try:
        socket.create_connection(key, timeout=timeout).close()
        ok = True
    except OSError:
        ok = False
    _reachable_cache[key] = (ok, now)
    return ok


def stall_seconds() -> float:
    """How long a download may receive nothing before it is given up (STYLEGAN_HUB_STALL_S, default 15)."""
    try:
        return max(1.0, float(os.environ.get("STYLEGAN_HUB_STALL_S", "15")))
    except ValueError:
        return 15.0


def _with_stall_watchdog(fn, repo, what, repo_type="model"):
    """Run fn (an hf_hub_download) in a worker thread and give up once nothing has arrived for
    stall_seconds(): huggingface_hub retries a silent server five times with long timeouts
    (minutes in all), which would hold a request of ours that long. Progress is the growth of
    the repo's *.incomplete blobs in the Hub cache. A given-up worker ends on its own timeouts."""
    box = {}

    def target():
        try:
            box["value"] = fn()
        except BaseException as e:  # handed to the caller's thread
            box["error"] = e
    worker = threading.Thread(target=target, name=f"hub-download {repo}", daemon=True)
    worker.start()
    blobs = os.path.join(huggingface_hub.constants.HF_HUB_CACHE, f"{repo_type}s--{repo.replace('/', '--')}", "blobs")
    limit, seen, changed = stall_seconds(), -1, time.monotonic()
    while worker.is_alive():
        worker.join(0.05)
        try:
            size = sum(e.stat().st_size for e in os.scandir(blobs) if e.name.endswith(".incomplete"))
        except OSError:
            size = 0
        now = time.monotonic()
        if size != seen:
            seen, changed = size, now
        elif now - changed > limit and worker.is_alive():
            raise HubError(f"Could not download {what}: the Hub stopped answering (nothing received for {limit:.0f} s).")
    if "error" in box:
        raise box["error"]
    return box["value"]


def download(repo: str, filename: str, revision: Optional[str] = None, subfolder: Optional[str] = None,
             repo_type: str = "model") -> str:
    """hf_hub_download with errors that name what was wanted and say what went wrong."""
    if repo_type not in ("model", "space", "dataset"):
        raise HubError(f"no Hub repo type {str(repo_type)[:20]!r}")
    path = f"{subfolder}/{filename}" if subfolder else filename
    what = f"{path!r} from Hub repo {repo!r}" + (f" (revision {revision!r})" if revision else "")
    offline = huggingface_hub.constants.is_offline_mode() if hasattr(huggingface_hub.constants, "is_offline_mode") \
        else bool(huggingface_hub.constants.HF_HUB_OFFLINE)
    local_only = offline or not hub_reachable()
    try:
        return _with_stall_watchdog(
            lambda: huggingface_hub.hf_hub_download(repo_id=repo, filename=filename, subfolder=subfolder, revision=revision,
                                                    repo_type=repo_type, library_name="stylegan-studio",
                                                    local_files_only=local_only, etag_timeout=min(10.0, stall_seconds())),
            repo, what, repo_type)
    except HubError:
        raise
    except (hf_errors.LocalEntryNotFoundError, hf_errors.OfflineModeIsEnabled) as e:
        why = "offline mode is on (HF_HUB_OFFLINE=1)" if offline else "the Hugging Face Hub cannot be reached (this machine looks offline)"
        raise HubError(f"Could not download {what}: {why}, and the file is not in the local cache.") from e
    except hf_errors.GatedRepoError as e:
        raise HubError(f"Could not download {what}: the repo is gated; accept its terms on the Hub and set HF_TOKEN.") from e
    except hf_errors.RepositoryNotFoundError as e:
        raise HubError(f"Could not download {what}: no such repo on the Hub (or it is private: set HF_TOKEN).") from e
    except hf_errors.RevisionNotFoundError as e:
        raise HubError(f"Could not download {what}: the repo has no revision {revision!r}.") from e
    except (hf_errors.EntryNotFoundError, hf_errors.RemoteEntryNotFoundError) as e:
        raise HubError(f"Could not download {what}: the repo has no such file.") from e
    except hf_errors.HfHubHTTPError as e:
        raise HubError(f"Could not download {what}: the Hub answered with an error: {e}") from e
    except (OSError, ValueError) as e:
        raise HubError(f"Could not download {what}: {type(e).__name__}: {e}") from e


MAX_URL_BYTES = 2 << 30


def url_cache_dir() -> str:
    return os.path.join(huggingface_hub.constants.HF_HOME, "stylegan-studio", "urls")


def url_cache_path(url: str) -> str:
    """Where download_url keeps the file of a URL."""
    import hashlib
    name = os.path.basename(urllib.parse.urlparse(url).path) or "file"
    return os.path.join(url_cache_dir(), hashlib.sha256(url.encode()).hexdigest()[:24], name)


def download_url(url: str, max_bytes: int = MAX_URL_BYTES) -> str:
    """A file at an https URL (release files that live on GitHub only), kept in our cache under a
    name made from the URL: downloaded once, given up after stall_seconds() of silence, refused
    past max_bytes; offline (HF_HUB_OFFLINE=1), only what is cached already."""
    import urllib.request
    path = url_cache_path(url)
    folder, name = os.path.split(path)
    if os.path.isfile(path):
        return path
    what = f"{name!r} from {urllib.parse.urlparse(url).netloc}"
    if bool(huggingface_hub.constants.HF_HUB_OFFLINE):
        raise HubError(f"Could not download {what}: offline mode is on (HF_HUB_OFFLINE=1), and it is not in the cache.")
    os.makedirs(folder, exist_ok=True)
    tmp = f"{path}.{os.getpid()}.{threading.get_ident()}.part"
    try:
        with urllib.request.urlopen(url, timeout=stall_seconds()) as r, open(tmp, "wb") as f:
            declared = int(r.headers.get("Content-Length") or 0)
            if declared > max_bytes:
                raise HubError(f"Could not download {what}: it is {declared:,} bytes, more than this server takes.")
            total = 0
            while chunk := r.read(1 << 20):  # each read waits at most stall_seconds()
                total += len(chunk)
                if total > max_bytes:
                    raise HubError(f"Could not download {what}: it is larger than this server takes.")
                f.write(chunk)
        os.replace(tmp, path)
        return path
    except HubError:
        raise
    except (OSError, ValueError) as e:  # no internet, a 404, a stall (socket timeout)
        reason = getattr(e, "reason", None) or getattr(e, "code", None) or type(e).__name__
        raise HubError(f"Could not download {what}: {reason}.") from None
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
