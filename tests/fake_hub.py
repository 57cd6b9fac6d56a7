"""A stand-in for the Hugging Face Hub on 127.0.0.1, for tests: it serves model repositories from
memory to snapshot_download, accepts create_repo and folder uploads, and records every request
with its Authorization header, so a test can see exactly which credential (if any) the app sent.

Private repositories answer only to their token, the way the Hub does (401 otherwise). Start it
with `FakeHub(repos).start()`; `endpoint` is what HF_ENDPOINT (or huggingface_hub.constants)
must say; `stop()` ends it.
"""
from __future__ import annotations

import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Repo:
    files: dict[str, bytes]
    private_token: str | None = None     # None: public

    @property
    def sha(self) -> str:
        h = hashlib.sha1()
        for name in sorted(self.files):
            h.update(name.encode() + self.files[name])
        return h.hexdigest()


@dataclass
class Request:
    method: str
    path: str
    authorization: str | None


@dataclass
class FakeHub:
    repos: dict[str, Repo] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    created: list[dict] = field(default_factory=list)

    def start(self) -> "FakeHub":
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _record(self):
                hub.requests.append(Request(self.command, self.path, self.headers.get("Authorization")))

            def _send(self, code: int, body: bytes = b"", headers: dict | None = None, ctype="application/json"):
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def _repo(self, repo_id: str):
                repo = hub.repos.get(repo_id)
                if repo is None:
                    return None, 404
                if repo.private_token and self.headers.get("Authorization") != f"Bearer {repo.private_token}":
                    return None, 401
                return repo, 200

            def _refuse(self, code):
                self._send(code, json.dumps({"error": "Repository not found"}).encode(),
                           {"X-Error-Code": "RepoNotFound", "X-Error-Message": "Repository not found"})

            def do_GET(self):
                self._record()
                m = re.match(r"/api/models/([^/]+/[^/]+)/tree/", self.path)
                if m:
                    repo, code = self._repo(m.group(1))
                    if repo is None:
                        return self._refuse(code)
                    tree = [{"type": "file", "path": n, "size": len(d), "oid": hashlib.sha1(d).hexdigest()}
                            for n, d in sorted(repo.files.items())]
                    return self._send(200, json.dumps(tree).encode())
                m = re.match(r"/api/models/([^/]+/[^/]+)(?:/revision/([^/?]+))?", self.path)
                if m:
                    repo, code = self._repo(m.group(1))
                    if repo is None:
                        return self._refuse(code)
                    info = {"id": m.group(1), "sha": repo.sha, "private": bool(repo.private_token),
                            "siblings": [{"rfilename": n} for n in sorted(repo.files)]}
                    return self._send(200, json.dumps(info).encode())
                m = re.match(r"/([^/]+/[^/]+)/resolve/([^/]+)/(.+)", self.path.split("?")[0])
                if m:
                    repo, code = self._repo(m.group(1))
                    if repo is None:
                        return self._refuse(code)
                    data = repo.files.get(m.group(3))
                    if data is None:
                        return self._send(404, b"{}", {"X-Error-Code": "EntryNotFound"})
                    etag = hashlib.sha256(data).hexdigest()
                    return self._send(200, data, {"ETag": f'"{etag}"', "X-Repo-Commit": repo.sha},
                                      ctype="application/octet-stream")
                self._send(404, b"{}")

            do_HEAD = do_GET

            def do_POST(self):
                self._record()
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.headers.get("Authorization") is None:
                    return self._send(401, b'{"error": "Invalid credentials"}')
                if self.path.startswith("/api/repos/create"):
                    hub.created.append(json.loads(body or b"{}"))
                    name = hub.created[-1].get("name", "x")
                    return self._send(200, json.dumps({"url": f"{hub.endpoint}/{name}"}).encode())
                self._send(403, b'{"error": "uploads are not served by the fake hub"}')

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
