"""dv.open / dv.read / dv.ls / dv.stat: any version of a file, from the cache or straight from a remote."""

from __future__ import annotations

import io
import os
import pickle
import random
import threading
from pathlib import Path

import pytest

import dv
from conftest import add_s3_remote


def blob(seed: int, size: int) -> bytes:
    return random.Random(seed).randbytes(size)


@pytest.fixture
def history(make_repo):
    """A repository with three versions of a 3 MiB file (dozens of chunks) and a small CSV, tagged v1..v3, and a
    folder remote holding them all."""
    r = make_repo()
    versions = []
    data = bytearray(blob(1, 3 << 20))
    for i in range(3):
        if i:
            # Change a stretch in the middle and append: some chunks change, most do not.
            data[(1 << 20) + i * 4096 : (1 << 20) + i * 4096 + 5000] = blob(10 + i, 5000)
            data += blob(20 + i, 70_000)
        r.write("data/big.bin", bytes(data))
        r.write("data/small.csv", f"id,v\n1,{i}\n2,{i * 2}\n")
        r.dv("add", "-q", "data")
        versions.append(bytes(data))
        r.commit(f"v{i + 1}", tag=f"v{i + 1}")
    remote = r.path.parent / "remote"
    r.dv("remote", "add", "origin", str(remote), "-q")
    r.commit("remote")
    r.dv("push", "-q", "--all-commits")
    return r, versions


def test_open_seek_read_across_chunk_boundaries_at_every_revision(history):
    r, versions = history
    rnd = random.Random(7)
    for i, want in enumerate(versions):
        with dv.open("data/big.bin", rev=f"v{i + 1}") as f:
            assert f.size == len(want)
            assert f.read() == want
            for _ in range(40):
                at = rnd.randrange(len(want))
                n = rnd.choice([1, 100, 65_536, 300_000])
                assert f.seek(at) == at
                assert f.read(n) == want[at : at + n]
                assert f.tell() == min(at + n, len(want))
            # Relative seeks, reads past the end, readinto.
            f.seek(-10, io.SEEK_END)
            assert f.read(100) == want[-10:]
            assert f.read(5) == b""
            f.seek(1000)
            f.seek(500, io.SEEK_CUR)
            buf = bytearray(4096)
            assert f.readinto(buf) == 4096
            assert bytes(buf) == want[1500:5596]
    # The work tree's pointer is the last version.
    assert dv.read("data/big.bin") == versions[-1]
    assert dv.read("data/big.bin", repo=str(r.path), rev="v2") == versions[1]


def test_text_mode_and_lines(history):
    with dv.open("data/small.csv", rev="v2", mode="r") as f:
        assert f.readline() == "id,v\n"
        assert list(f) == ["1,1\n", "2,2\n"]
    with pytest.raises(dv.UsageError):
        dv.open("data/small.csv", mode="w")


def test_reads_from_the_remote_fetch_only_the_chunks_touched_then_keep_them(history, tmp_path):
    r, versions = history
    c = r.clone(tmp_path / "clone")
    os.chdir(c.path)
    want = versions[2]
    v = dv.Version(rev="v3")
    f = v.open("data/big.bin")
    at = 2_000_000
    f.seek(at)
    assert f.read(65_536) == want[at : at + 65_536]
    s = v.stats()
    # 64 KiB spans at most a few chunks (each at most 256 KiB): never the whole 3 MiB file.
    assert 1 <= s["chunks_fetched"] <= 4, s
    assert s["bytes_fetched"] <= 4 * 256 * 1024, s
    assert s["chunks_local"] == 0
    f.close()
    # Kept: the same read again is local.
    v2 = dv.Version(rev="v3")
    with v2.open("data/big.bin") as g:
        g.seek(at)
        assert g.read(65_536) == want[at : at + 65_536]
    assert v2.stats()["chunks_fetched"] == 0
    assert v2.stats()["chunks_local"] >= 1
    # Nothing was checked out.
    assert not (c.path / "data" / "big.bin").exists()


def test_cache_false_keeps_nothing(history, tmp_path):
    r, versions = history
    c = r.clone(tmp_path / "clone")
    os.chdir(c.path)
    for _ in range(2):
        v = dv.Version(rev="v1", cache=False)
        with v.open("data/big.bin") as f:
            assert f.read(1000) == versions[0][:1000]
        assert v.stats()["chunks_fetched"] >= 1
    assert dv.read("data/big.bin", rev="v1", cache=False) == versions[0]


def test_s3_remote_with_an_empty_cache(make_repo, s3, tmp_path):
    r = make_repo()
    data = blob(3, 2 << 20)
    r.write("data/big.bin", data)
    r.dv("add", "-q", "data")
    add_s3_remote(r, s3)
    r.commit("v1", tag="v1")
    r.dv("push", "-q")
    c = r.clone(tmp_path / "clone")
    # Read by URL, the clone is a registry: its committed endpoint would get this user's signed requests, so it
    # is refused until the user confirms it.
    with pytest.raises(dv.RemoteError, match="confirm it"):
        dv.Version(repo=f"file://{c.path}", rev="v1").open("data/big.bin")
    os.chdir(c.path)
    v = dv.Version(rev="v1")
    f = v.open("data/big.bin")
    f.seek(1_500_000)
    assert f.read(10_000) == data[1_500_000:1_510_000]
    assert v.stats()["chunks_fetched"] <= 2
    f.seek(0)
    assert f.read() == data
    f.close()


def test_missing_path_and_revision_raise_not_found(history):
    with pytest.raises(dv.NotFound, match="'nope.bin' is not tracked by dv"):
        dv.open("nope.bin")
    with pytest.raises(FileNotFoundError):
        dv.read("data/nope.bin", rev="v1")
    with pytest.raises(dv.NotFound, match="no-such-tag"):
        dv.read("data/big.bin", rev="no-such-tag")
    with pytest.raises(dv.UsageError, match="folder"):
        dv.open("data")
    # Never outside the repository.
    with pytest.raises(dv.UsageError):
        dv.read("../outside")
    with pytest.raises(dv.DvError):
        dv.read("data/../../x")


def test_corrupted_chunk_raises_and_returns_no_bytes(history):
    r, versions = history
    packs = sorted((r.path / ".dv" / "cache" / "packs").rglob("*.pack"))
    assert packs
    # Damage every pack in its middle: whichever chunk lies there fails its check.
    for p in packs:
        b = bytearray(p.read_bytes())
        b[len(b) // 2] ^= 0xFF
        p.write_bytes(bytes(b))
    got = None
    with pytest.raises(dv.CorruptError):
        got = dv.read("data/big.bin", rev="v3")
    assert got is None


def test_ls_and_stat_read_trees_only(history):
    entries = dv.ls()
    assert [(e.name, e.kind, e.type) for e in entries] == [("data", "dataset", "directory")]
    names = {e.name: e for e in dv.ls("data", rev="v1")}
    assert set(names) == {"data/big.bin", "data/small.csv"}
    assert names["data/big.bin"].size == 3 << 20
    assert names["data/big.bin"].type == "file"
    st = dv.stat("data/big.bin", rev="v2")
    assert st["type"] == "file" and st["size"] == (3 << 20) + 70_000
    with pytest.raises(dv.NotFound):
        dv.stat("data/none", rev="v1")


def test_eight_threads_read_the_right_bytes(history):
    r, versions = history
    want = versions[2]
    v = dv.Version(rev="v3")
    errors = []

    def work(seed):
        rnd = random.Random(seed)
        try:
            with v.open("data/big.bin") as f:
                for _ in range(30):
                    at = rnd.randrange(len(want))
                    f.seek(at)
                    assert f.read(50_000) == want[at : at + 50_000]
        except Exception as e:  # noqa: BLE001 (reported below)
            errors.append(e)

    threads = [threading.Thread(target=work, args=(s,)) for s in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors


def _worker_read(args):
    f, at, n = args
    f.seek(at)
    return f.read(n)


def _fork_worker(v, at, n, out):
    with v.open("data/big.bin") as f:
        f.seek(at)
        out.put((at, f.read(n)))


@pytest.mark.parametrize("start", ["fork", "spawn"])
def test_four_worker_processes_read_the_right_bytes(history, tmp_path, start):
    """DataLoader-style workers: forked (the parent's objects, used before the fork, inherited) or spawned
    (the objects pickled). The chunks come from the remote, so each child opens its own runtime."""
    import multiprocessing as mp

    r, versions = history
    c = r.clone(tmp_path / "clone")
    os.chdir(c.path)
    want = versions[1]
    v = dv.Version(rev="v2", cache=False)
    f = dv.open("data/big.bin", rev="v2", cache=False)
    assert f.read(10) == want[:10]  # the parent has used both before the children start
    with v.open("data/big.bin") as g:
        assert g.read(10) == want[:10]
    ctx = mp.get_context(start)
    offsets = [(f, i * 700_000 + 123, 200_000) for i in range(4)]
    with ctx.Pool(4) as pool:
        got = pool.map(_worker_read, offsets)
    for (_, at, n), b in zip(offsets, got):
        assert b == want[at : at + n]
    if start == "fork":
        q = ctx.Queue()
        procs = [ctx.Process(target=_fork_worker, args=(v, i * 500_000, 100_000, q)) for i in range(4)]
        for p in procs:
            p.start()
        results = [q.get(timeout=60) for _ in procs]
        for p in procs:
            p.join(30)
            assert p.exitcode == 0
        for at, b in results:
            assert b == want[at : at + 100_000]


def test_files_and_versions_pickle(history):
    r, versions = history
    v = dv.Version(rev="v1")
    v2 = pickle.loads(pickle.dumps(v))
    assert v2.commit == v.commit and v2.repo == v.repo
    f = dv.open("data/big.bin", rev="v2")
    f.seek(12345)
    g = pickle.loads(pickle.dumps(f))
    assert g.tell() == 12345
    assert g.read(100) == versions[1][12345:12445]


def test_one_raw_file_shared_by_threads_never_deadlocks(history):
    """A read holds the file's state without the GIL; a thread asking its position meanwhile holds the GIL.
    Neither may wait for the other."""
    r, versions = history
    want = versions[2]
    f = dv.Version(rev="v3").open_file("data/big.bin")
    stop = threading.Event()
    errors = []

    def reader():
        try:
            for i in range(40):
                at = (i * 77_777) % len(want)
                assert f.pread(at, 200_000) == want[at : at + 200_000]
        except Exception as e:  # noqa: BLE001 (reported below)
            errors.append(e)
        finally:
            stop.set()

    def poker():
        while not stop.is_set():
            f.tell()
            f.seek(5)

    threads = [threading.Thread(target=reader), threading.Thread(target=poker), threading.Thread(target=poker)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
        assert not t.is_alive(), "a thread is stuck"
    assert not errors, errors
    f.close()
    with pytest.raises(ValueError, match="closed"):
        f.read(1)


def test_a_pointer_claiming_a_size_it_does_not_hold_is_refused(history):
    """A committed pointer (from anyone) that lies about its one chunk's size: refused when opened, before a
    buffer is sized from it, and read_table does not try to allocate what it claims."""
    r, versions = history
    r.write("small/one.txt", b"hello")
    r.dv("add", "-q", "small/one.txt")
    p = r.path / "small" / "one.txt.dv"
    p.write_text(p.read_text().replace("size = 5", "size = 1000000000000000"))
    r.commit("lying pointer", tag="liar")
    for call in (lambda: dv.read("small/one.txt", rev="liar"), lambda: dv.read_table("small/one.txt", rev="liar")):
        with pytest.raises(dv.CorruptError, match="holds 5"):
            call()


def test_repo_given_as_a_git_url(history, tmp_path):
    """`repo` may be a Git URL: mirrored under the user's cache, its data read from its committed remote."""
    r, versions = history
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    os.chdir(elsewhere)
    url = f"file://{r.path}"
    assert dv.read("data/big.bin", rev="v2", repo=url) == versions[1]
    assert {e.name for e in dv.ls("data", rev="v1", repo=url)} == {"data/big.bin", "data/small.csv"}
    with pytest.raises(dv.DvError, match="cannot fetch"):
        dv.read("data/big.bin", repo=f"file://{tmp_path}/no-such-repo")
    # A path that is no repository, or no folder at all, is not found.
    with pytest.raises(dv.NotFound):
        dv.read("data/big.bin", repo=str(tmp_path / "no-such-folder"))
    with pytest.raises(dv.NotFound):
        dv.read("data/big.bin", repo=str(elsewhere))
