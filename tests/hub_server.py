"""A stand-in for the Hugging Face Hub on 127.0.0.1, enough for `hf_hub_download` and for
`HfApi.create_repo` + `upload_folder`.

It answers HEAD/GET /{owner}/{repo}/resolve/{revision}/{path} with the headers the real Hub
sends (X-Repo-Commit, ETag, Content-Length) and 404s with X-Error-Code for a missing repo,
revision or file, so the real download code (cache, revision, errors) runs offline. Uploads:
POST /api/repos/create, /api/models/{repo}/preupload/{revision} (every file "regular", so
the commit carries them inline) and /api/models/{repo}/commit/{revision} (the NDJSON commit:
a header line and one base64 "file" line per file), which lands the files in the repo; the
Authorization header of each write is kept in `writes`.
"""
import base64
import hashlib
import http.server
import json
import re
import threading
import time


class FakeHub:
    def __init__(self):
        self.repos = {}   # repo_id -> {revision_name -> (commit, {path: bytes})}
        self.requests = []
        self.writes = []  # (path, Authorization header) of each write request
        self._server = None

    def add_file(self, repo, path, data: bytes, revision="main"):
        commit_files = self.repos.setdefault(repo, {}).setdefault(revision, [None, {}])
        commit_files[1][path] = data
        digest = hashlib.sha1(repr(sorted((p, hashlib.sha1(d).hexdigest()) for p, d in commit_files[1].items())).encode())
        commit_files[0] = (digest.hexdigest() + "0" * 40)[:40]

    def start(self):
        hub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _answer(self, body):
                hub.requests.append((self.command, self.path, time.time()))
                m = re.match(r"^/([^/]+/[^/]+)/resolve/([^/]+)/(.+?)(\?.*)?$", self.path)
                if not m:
                    return self._error(404, "EntryNotFound")
                repo, revision, path = m.group(1), m.group(2), m.group(3)
                if repo not in hub.repos:
                    return self._error(404, "RepoNotFound")
                revs = hub.repos[repo]
                found = revs.get(revision) or next((v for v in revs.values() if v[0] == revision), None)
                if found is None:
                    return self._error(404, "RevisionNotFound")
                commit, files = found
                if path not in files:
                    return self._error(404, "EntryNotFound")
                data = files[path]
                self.send_response(200)
                self.send_header("X-Repo-Commit", commit)
                self.send_header("ETag", '"' + hashlib.sha256(data).hexdigest() + '"')
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Content-Type", "application/octet-stream")
                self.end_headers()
                if body:
                    self.wfile.write(data)

            def _error(self, code, error_code):
                self.send_response(code)
                self.send_header("X-Error-Code", error_code)
                self.send_header("X-Error-Message", error_code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_HEAD(self):
                self._answer(body=False)

            def do_GET(self):
                self._answer(body=True)

            def _json(self, code, payload):
                body = json.dumps(payload).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):
                hub.requests.append((self.command, self.path, time.time()))
                hub.writes.append((self.path, self.headers.get("Authorization")))
                data = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path == "/api/validate-yaml":  # the model card's metadata, checked before an upload
                    return self._json(200, {"errors": [], "warnings": []})
                if self.path == "/api/repos/create":
                    spec = json.loads(data)
                    repo = f"{spec['organization']}/{spec['name']}" if spec.get("organization") else spec["name"]
                    if repo.startswith("forbidden/"):  # a namespace the token may not write to
                        return self._json(403, {"error": "You don't have the rights to create a model under this namespace"})
                    hub.repos.setdefault(repo, {}).setdefault("main", [("0" * 40), {}])
                    return self._json(200, {"url": f"{hub.url}/{repo}", "name": repo})
                m = re.match(r"^/api/models/([^/]+/[^/]+)/(preupload|commit)/([^/?]+)", self.path)
                if not m or m.group(1) not in hub.repos:
                    return self._json(404, {"error": "Repository not found"})
                repo, kind, revision = m.groups()
                if kind == "preupload":
                    files = json.loads(data)["files"]
                    return self._json(200, {"files": [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False}
                                                      for f in files]})
                for line in data.decode().splitlines():
                    item = json.loads(line)
                    if item.get("key") == "file":
                        v = item["value"]
                        hub.add_file(repo, v["path"], base64.b64decode(v["content"]), revision)
                commit = hub.repos[repo][revision][0]
                return self._json(200, {"commitUrl": f"{hub.url}/{repo}/commit/{commit}", "commitOid": commit,
                                        "success": True})

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        return self.url

    def stop(self):
        if self._server:
            self._server.shutdown()
            self._server.server_close()
