"""Benchmark of the Python package's reads (issue 17), printing figures and, when DVC is installed, the same
reads through ``dvc.api.open`` on the same data and the same S3 server.

    (cd python && maturin develop --release)        # the native module as users get it
    python python/bench/read_bench.py [--size-mib 1024] [--runs 3] [--dvc PATH/TO/dvc-venv/bin/python]

Steps (medians of --runs):
1. Sequential read of a SIZE MiB file version through ``dv.open`` from a warm local cache (8 MiB reads).
2. The same from moto's S3 server on 127.0.0.1 with an empty cache (``cache=False``, in a fresh clone); and
   ``dvc.api.open`` of the same bytes pushed by DVC to the same server, its cache deleted.
3. 64 KiB reads at 1,000 random offsets from the remote, empty cache: bytes fetched per read (average) and
   the time of each read (median and 95th percentile).
4. ``pandas.read_parquet("dv://...")`` of a 1M-row table version against ``pandas.read_parquet`` of the same
   file on local disk.

The data is seeded: half of every 64 KiB random, half drawn from 16 byte values (zstd roughly halves it).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def dv_bin() -> str:
    if os.environ.get("DV_BIN"):
        return os.environ["DV_BIN"]
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    for profile in ("release", "debug"):
        p = target / profile / "dv"
        if p.exists():
            return str(p)
    sys.exit("build dv first (cargo build --release), or set DV_BIN")


def run(*args, cwd, env=None):
    p = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)
    if p.returncode:
        sys.exit(f"{' '.join(map(str, args))} failed:\n{p.stdout}\n{p.stderr}")
    return p.stdout


def make_data(path: Path, size: int) -> None:
    rnd = random.Random(17)
    block = 64 * 1024
    alphabet = bytes(range(0, 256, 16))
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(left, block)
            half = n // 2
            f.write(rnd.randbytes(half))
            f.write(bytes(alphabet[b & 15] for b in rnd.randbytes(min(n - half, 512))) * ((n - half) // 512 + 1))
            left -= n
        f.truncate(size)


def moto(venv_python: str):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [venv_python, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            urllib.request.urlopen(url + "/moto-api/", timeout=1)
            return proc, url
        except OSError:
            time.sleep(0.1)
    proc.kill()
    sys.exit("moto's server did not start")


def median_time(f, runs: int) -> float:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def read_all(f, buf_size=8 << 20) -> int:
    buf = bytearray(buf_size)
    total = 0
    while True:
        n = f.readinto(buf)
        if not n:
            return total
        total += n


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--dvc", help="a Python with dvc and dvc-s3 installed (default: ~/.cache/dvc-venv, if there)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = ap.parse_args()
    import boto3
    import dv
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    dvc_py = args.dvc or str(Path.home() / ".cache/dvc-venv/bin/python")
    have_dvc = Path(dvc_py).exists()
    size = args.size_mib << 20
    tmp = Path(tempfile.mkdtemp(prefix="dv-read-bench-"))
    env = dict(os.environ, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_REGION="us-east-1",
               AWS_DEFAULT_REGION="us-east-1")
    os.environ.update(env)
    server, endpoint = moto(sys.executable)
    try:
        s3 = boto3.client("s3", endpoint_url=endpoint)
        s3.create_bucket(Bucket="dv-bench")
        repo = tmp / "repo"
        repo.mkdir()
        D = dv_bin()
        run("git", "init", "-q", cwd=repo)
        run("git", "config", "user.email", "b@example.com", cwd=repo)
        run("git", "config", "user.name", "bench", cwd=repo)
        run(D, "init", "-q", cwd=repo)
        (repo / "data").mkdir()
        make_data(repo / "data" / "big.bin", size)
        rows = args.rows
        rnd = random.Random(5)
        table = pa.table({
            "id": pa.array(range(rows), pa.int64()),
            "value": pa.array([rnd.random() for _ in range(rows)]),
            "name": pa.array([f"user-{rnd.randrange(10**6)}" for _ in range(rows)]),
        })
        pq.write_table(table, repo / "data" / "table.parquet")
        t = time.perf_counter()
        run(D, "add", "-q", "data/big.bin", "data/table.parquet", cwd=repo)
        print(f"dv add of {args.size_mib} MiB and a {rows:,}-row table: {time.perf_counter() - t:.2f} s")
        run(D, "remote", "add", "origin", "s3://dv-bench/dv", "-q", cwd=repo)
        run(D, "remote", "modify", "origin", "endpoint", endpoint, "-q", cwd=repo)
        run(D, "remote", "modify", "origin", "allow_http", "true", "-q", cwd=repo)
        run("git", "add", "-A", cwd=repo)
        run("git", "commit", "-qm", "v1", cwd=repo)
        run(D, "push", "-q", cwd=repo, env=env)
        os.chdir(repo)

        print(f"\n{'step':<62} {'median':>10}  figure")
        # 1. Warm local cache.
        def warm():
            with dv.open("data/big.bin") as f:
                assert read_all(f) == size
        secs = median_time(warm, args.runs)
        print(f"{'1. sequential dv.open read, warm cache':<62} {secs:>9.3f}s  {size / secs / 1e9:.2f} GB/s")

        # 2. Empty cache, from S3.
        clone = tmp / "clone"
        run("git", "clone", "-q", str(repo), str(clone), cwd=tmp)
        run(D, "init", "-q", cwd=clone)
        os.chdir(clone)
        def cold():
            v = dv.Version(cache=False)
            with v.open("data/big.bin") as f:
                assert read_all(f) == size
        secs_dv = median_time(cold, args.runs)
        print(f"{'2. sequential dv.open read, empty cache, moto S3':<62} {secs_dv:>9.3f}s  "
              f"{size / secs_dv / 1e6:.0f} MB/s")
        if have_dvc:
            dvc_repo = tmp / "dvc"
            dvc_repo.mkdir()
            shutil.copy(repo / "data" / "big.bin", dvc_repo / "big.bin")
            dvc = [dvc_py, "-m", "dvc"]
            run("git", "init", "-q", cwd=dvc_repo)
            run(*dvc, "init", "-q", cwd=dvc_repo, env=env)
            run(*dvc, "add", "-q", "big.bin", cwd=dvc_repo, env=env)
            run(*dvc, "remote", "add", "-d", "s3", "s3://dv-bench/dvc", cwd=dvc_repo, env=env)
            run(*dvc, "remote", "modify", "s3", "endpointurl", endpoint, cwd=dvc_repo, env=env)
            run(*dvc, "push", "-q", cwd=dvc_repo, env=env)
            shutil.rmtree(dvc_repo / ".dvc" / "cache")
            (dvc_repo / "big.bin").unlink()
            script = (
                "import dvc.api, sys, time\n"
                "t = time.perf_counter(); n = 0\n"
                "with dvc.api.open('big.bin', repo=sys.argv[1], mode='rb') as f:\n"
                "    while b := f.read(8 << 20): n += len(b)\n"
                f"assert n == {size}, n\n"
                "print(time.perf_counter() - t)\n"
            )
            times = [float(run(dvc_py, "-c", script, str(dvc_repo), cwd=dvc_repo, env=env)) for _ in range(args.runs)]
            secs_dvc = statistics.median(times)
            print(f"{'   dvc.api.open of the same bytes, same server':<62} {secs_dvc:>9.3f}s  "
                  f"{size / secs_dvc / 1e6:.0f} MB/s; dv is {secs_dvc / secs_dv:.1f}x faster")
        else:
            print(f"   (DVC not found at {dvc_py}: no comparison)")

        # 3. Random 64 KiB reads, empty cache.
        v = dv.Version(cache=False)
        f = v.open("data/big.bin")
        rnd = random.Random(9)
        lat = []
        before = v.stats()["bytes_fetched"]
        for _ in range(1000):
            at = rnd.randrange(size - 65536)
            f.seek(at)
            t = time.perf_counter()
            b = f.read(65536)
            lat.append(time.perf_counter() - t)
            assert len(b) == 65536
        fetched = (v.stats()["bytes_fetched"] - before) / 1000
        f.close()
        lat.sort()
        print(f"{'3. 64 KiB reads at 1,000 random offsets, empty cache (per read)':<62} "
              f"{statistics.median(lat) * 1000:>8.1f}ms  p95 {lat[949] * 1000:.1f} ms; "
              f"{fetched / 1024:.0f} KiB fetched on average")

        # 4. pandas.read_parquet through dv:// (warm cache) against the local file.
        os.chdir(repo)
        local = tmp / "table.parquet"
        shutil.copy(repo / "data" / "table.parquet", local)
        secs_local = median_time(lambda: pd.read_parquet(local), max(args.runs, 5))
        secs_url = median_time(lambda: pd.read_parquet("dv://data/table.parquet"), max(args.runs, 5))
        print(f"{'4. pandas.read_parquet of a %s-row table, local file' % f'{rows:,}':<62} {secs_local:>9.3f}s")
        print(f"{'   the same through dv://, warm cache':<62} {secs_url:>9.3f}s  "
              f"{secs_url / secs_local:.2f}x the local read")
    finally:
        server.terminate()
        server.wait(10)
        os.chdir(ROOT)
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"kept {tmp}")


if __name__ == "__main__":
    main()
