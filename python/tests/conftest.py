"""Fixtures for the Python package's tests: real dv repositories made by the real `dv` binary in temporary
folders, a folder remote, and a real S3 server (moto's, from PyPI) on 127.0.0.1."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def dv_bin() -> str:
    """The dv binary under test: $DV_BIN, else the debug build in the target folder."""
    if os.environ.get("DV_BIN"):
        return os.environ["DV_BIN"]
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    return str(target / "debug" / "dv")


class Repo:
    """A Git repository with dv initialized, driven through the real binaries."""

    def __init__(self, path: Path, env: dict):
        self.path = path
        self.env = env

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        p = subprocess.run(args, cwd=self.path, env=self.env, capture_output=True, text=True)
        if check and p.returncode != 0:
            raise AssertionError(f"{' '.join(args)} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
        return p

    def dv(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return self.run(dv_bin(), *args, check=check)

    def git(self, *args: str) -> str:
        return self.run("git", *args).stdout.strip()

    def write(self, rel: str, data: bytes | str) -> Path:
        p = self.path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data.encode() if isinstance(data, str) else data)
        return p

    def commit(self, message: str, tag: str | None = None) -> str:
        self.git("add", "-A")
        self.git("commit", "-q", "-m", message)
        if tag:
            self.git("tag", tag)
        return self.git("rev-parse", "HEAD")

    def clone(self, dest: Path) -> "Repo":
        subprocess.run(["git", "clone", "-q", str(self.path), str(dest)], check=True, env=self.env)
        r = Repo(dest, self.env)
        r.git("config", "user.email", "t@example.com")
        r.git("config", "user.name", "t")
        r.dv("init", "-q")
        return r


@pytest.fixture
def env(tmp_path, monkeypatch) -> dict:
    """An environment of its own: HOME, the user's settings and cache in the test's folder."""
    home = tmp_path / "home"
    home.mkdir()
    for k in ("DV_CACHE_DIR", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "AWS_PROFILE", "AWS_CONFIG_FILE"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("DV_PACK_SIZE", str(1 << 20))
    return dict(os.environ)


@pytest.fixture
def make_repo(tmp_path, env, monkeypatch):
    """make_repo(name) -> a new Repo; the current folder moves into the first one made."""
    made = []

    def make(name: str = "repo") -> Repo:
        path = tmp_path / name
        path.mkdir()
        r = Repo(path, env)
        r.git("init", "-q")
        r.git("config", "user.email", "t@example.com")
        r.git("config", "user.name", "t")
        r.dv("init", "-q")
        if not made:
            monkeypatch.chdir(path)
        made.append(r)
        return r

    return make


@pytest.fixture(scope="session")
def s3_endpoint(tmp_path_factory):
    """moto's S3 server on 127.0.0.1, in a process of its own (so forks in tests never copy a server thread)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = open(tmp_path_factory.mktemp("moto") / "moto.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 30
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"moto's server stopped: see {log.name}")
        try:
            urllib.request.urlopen(url + "/moto-api/", timeout=1)
            break
        except OSError:
            if time.time() > deadline:
                proc.kill()
                raise RuntimeError("moto's server did not start within 30 s")
            time.sleep(0.1)
    yield url
    proc.terminate()
    proc.wait(10)


@pytest.fixture
def s3(s3_endpoint, env, monkeypatch) -> str:
    """The S3 server, emptied, with test credentials in the environment."""
    for k, v in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(k, v)
        env[k] = v
    req = urllib.request.Request(s3_endpoint + "/moto-api/reset", method="POST")
    urllib.request.urlopen(req, timeout=10)
    return s3_endpoint


def add_s3_remote(repo: Repo, endpoint: str, bucket: str = "dv-test") -> None:
    import boto3

    boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    ).create_bucket(Bucket=bucket)
    repo.dv("remote", "add", "origin", f"s3://{bucket}/team", "-q")
    repo.dv("remote", "modify", "origin", "endpoint", endpoint, "-q")
    repo.dv("remote", "modify", "origin", "allow_http", "true", "-q")
