"""What an adversarial review of the package found, each now a test: where the repository is found, links out
of the work tree, re-reads and forked workers keeping a sound cache, damaged remote copies, odd names."""

from __future__ import annotations

import io
import multiprocessing as mp
import os
import pickle
import random
from pathlib import Path

import fsspec
import pytest

import dv


def assert_sound_cache(repo) -> None:
    """`dv fsck` finds no damaged pack or object (objects the cache lacks are expected: only parts were read)."""
    import json

    report = json.loads(repo.dv("fsck", "--json", check=False).stdout)
    assert report["damaged"] == [] and report["damaged_packs"] == [], report
    assert report["objects"] > 0


def blob(seed: int, size: int) -> bytes:
    return random.Random(seed).randbytes(size)


@pytest.fixture
def pushed(make_repo, tmp_path):
    """A repository with a 4 MiB file at v1 (before its remote was added) and a folder remote holding it, and
    an empty-cache clone that the current folder moves into."""
    r = make_repo()
    data = blob(4, 4 << 20)
    r.write("data/big.bin", data)
    r.write("data/odd name ?#%.txt", b"odd")
    r.dv("add", "-q", "data")
    r.commit("v1", tag="v1")
    r.dv("remote", "add", "origin", str(tmp_path / "remote"), "-q")
    r.commit("remote")
    r.dv("push", "-q", "--all-commits")
    c = r.clone(tmp_path / "clone")
    os.chdir(c.path)
    return r, c, data


def test_the_repository_is_found_from_a_subfolder(pushed):
    r, c, data = pushed
    sub = c.path / "sub" / "deeper"
    sub.mkdir(parents=True)
    os.chdir(sub)
    assert dv.read("data/big.bin", rev="v1") == data
    assert dv.Version().repo == str(c.path.resolve())


def test_a_linked_folder_is_never_read_through(make_repo, tmp_path):
    r = make_repo()
    outside = make_repo("outside")
    outside.write("secret.txt", b"secret")
    outside.dv("add", "-q", "secret.txt")
    os.chdir(r.path)
    (r.path / "outlink").symlink_to(outside.path)
    with pytest.raises(dv.UsageError, match="symbolic link"):
        dv.read("outlink/secret.txt")
    with pytest.raises(dv.UsageError, match="symbolic link"):
        dv.stat("outlink/secret.txt")


def test_a_local_repo_path_is_read_as_its_work_tree_with_its_own_cache(pushed, tmp_path):
    """From another folder, repo=PATH reads that work tree's pointers, its cache and its remotes as now
    configured (v1 was committed before the remote was added)."""
    r, c, data = pushed
    r.write("data/big.bin", b"changed in the work tree")
    r.dv("add", "-q", "data")
    os.chdir(tmp_path)
    v = dv.Version(repo=str(r.path))
    assert v.commit is None
    assert v.read("data/big.bin") == b"changed in the work tree"
    assert v.stats()["chunks_fetched"] == 0
    # An old revision of the clone (empty cache) comes from the remote configured now.
    assert dv.read("data/big.bin", rev="v1", repo=str(c.path)) == data


def test_rereading_does_not_fetch_again_and_the_cache_stays_sound(pushed):
    r, c, data = pushed
    v = dv.Version(rev="v1")
    f = v.open_file("data/big.bin")  # the raw file: no buffered reader's own read-ahead in the counts
    fetched = []
    for _ in range(3):
        for at in (0, 3_000_000):
            f.seek(at)
            assert f.read(200_000) == data[at : at + 200_000]
        fetched.append(v.stats()["chunks_fetched"])
    f.close()
    assert fetched[0] == fetched[1] == fetched[2], fetched
    assert_sound_cache(c)


def _read_inherited(f, at, n, q):
    f.seek(at)
    q.put(f.read(n))


def test_chunks_read_by_a_forked_worker_through_an_inherited_file_are_kept(pushed):
    r, c, data = pushed
    f = dv.open("data/big.bin", rev="v1")
    assert f.read(10) == data[:10]
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    p = ctx.Process(target=_read_inherited, args=(f, 1_000_000, 500_000, q))
    p.start()
    assert q.get(timeout=60) == data[1_000_000:1_500_000]
    p.join(30)
    assert p.exitcode == 0
    v = dv.Version(rev="v1")
    with v.open("data/big.bin") as g:
        g.seek(1_000_000)
        assert g.read(500_000) == data[1_000_000:1_500_000]
    assert v.stats()["chunks_fetched"] == 0, v.stats()
    assert_sound_cache(c)


def test_a_damaged_copy_on_the_remote_is_corrupt_data(pushed, tmp_path):
    r, c, data = pushed
    for p in (tmp_path / "remote").rglob("*.pack"):
        b = bytearray(p.read_bytes())
        for i in range(4096, len(b), 1 << 20):
            b[i] ^= 0xFF
        p.write_bytes(bytes(b))
    with pytest.raises(dv.CorruptError, match="the copy on remote 'origin'"):
        dv.read("data/big.bin", rev="v1")


def test_bad_paths_and_pointers_say_what_is_wrong(pushed):
    r, c, data = pushed
    with pytest.raises(dv.UsageError, match="relative to the repository"):
        dv.read("/data/big.bin", rev="v1")
    with pytest.raises(dv.UsageError, match="pointer file of 'data'"):
        dv.open("data.dv", rev="v1")
    (c.path / "bad").mkdir()
    (c.path / "bad" / "x.bin.dv").write_text('dv = 1\nkind = "file"\nid = "../../etc/passwd"\nsize = 3\n')
    with pytest.raises(dv.DvError, match="64 lower-case hex"):
        dv.read("bad/x.bin")


def test_diff_table_of_a_file_that_is_no_table_is_a_usage_error(pushed):
    with pytest.raises(dv.UsageError, match="not tracked as a table"):
        dv.diff_table("data/big.bin", "v1", "v1")


def test_fsspec_odd_names_duckdb_parquet_and_read_only(pushed, tmp_path):
    import duckdb
    import pyarrow as pa
    import pyarrow.parquet as pq

    r, c, data = pushed
    fs = fsspec.filesystem("dv", rev="v1")
    assert fs.cat_file("data/odd name ?#%.txt") == b"odd"
    assert "data/odd name ?#%.txt" in fs.ls("data", detail=False)
    assert fs.modified("data/big.bin") == fs.modified("data/big.bin")
    with pytest.raises(dv.UsageError, match="read-only"):
        fs.mkdir("data/new")
    with pytest.raises(dv.UsageError, match="read-only"):
        fs.rm("data/big.bin")
    pq.write_table(pa.table({"a": [1, 2, 3]}), c.path / "t.parquet")
    c.dv("add", "-q", "t.parquet")
    con = duckdb.connect()
    con.register_filesystem(fsspec.filesystem("dv"))
    assert con.execute("select sum(a) from read_parquet('dv://t.parquet')").fetchall() == [(6,)]


def test_text_files_pickle_and_closed_files_do_not(pushed):
    r, c, data = pushed
    c.write("notes.txt", "one\ntwo\nthree\n")
    c.dv("add", "-q", "notes.txt")
    f = dv.open("notes.txt", mode="r")
    assert f.readline() == "one\n"
    g = pickle.loads(pickle.dumps(f))
    assert g.read() == "two\nthree\n"
    f.close()
    with pytest.raises(ValueError, match="closed"):
        pickle.dumps(f)
