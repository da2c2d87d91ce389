"""A stand-in for the Hugging Face Hub on 127.0.0.1, enough for `hf_hub_download`.

It answers HEAD/GET /{owner}/{repo}/resolve/{revision}/{path} with the headers the real Hub
sends (X-Repo-Commit, ETag, Content-Length) and 404s with X-Error-Code for a missing repo,
revision or file, so the real download code (cache, revision, errors) runs offline.
"""
import hashlib
import http.server
import re
import threading
import time


class FakeHub:
    def __init__(self):
        self.repos = {}   # repo_id -> {revision_name -> (commit, {path: bytes})}
        self.requests = []
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

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def stop(self):
        if self._server:
            self._server.shutdown()
            self._server.server_close()
