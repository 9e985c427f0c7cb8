"""dv.read_table / dv.diff_table and the dv:// filesystem through pandas, pyarrow, DuckDB and polars."""

from __future__ import annotations

import pickle

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import dv


@pytest.fixture
def tables(make_repo):
    r = make_repo()
    r.write("data/users.csv", "id,name,score\n1,ann,2.5\n2,bob,3.0\n3,cy,1.0\n")
    t = pa.table(
        {
            "id": pa.array([1, 2, 3], pa.int32()),
            "when": pa.array([10**12, 2 * 10**12, 3 * 10**12], pa.timestamp("ms")),
            "price": pa.array(["1.10", "2.20", "3.30"]).cast(pa.decimal128(9, 2)),
        }
    )
    pq.write_table(t, r.path / "data" / "events.parquet")
    r.dv("add", "-q", "--key", "id", "data/users.csv")
    r.dv("add", "-q", "data/events.parquet")
    r.commit("v1", tag="v1")
    r.write("data/users.csv", "id,name,score\n1,ann,9.5\n3,cy,1.0\n4,dee,4.0\n")
    r.dv("add", "-q", "data/users.csv")
    r.commit("v2", tag="v2")
    return r, t


def test_read_table_keeps_parquet_types_and_projects_columns(tables):
    r, t = tables
    got = dv.read_table("data/events.parquet", rev="v1")
    assert got.schema.field("when").type == pa.timestamp("ms")
    assert got.schema.field("price").type == pa.decimal128(9, 2)
    assert got.equals(t)
    assert dv.read_table("data/events.parquet", columns=["price"]).column_names == ["price"]
    users = dv.read_table("data/users.csv", rev="v1")
    assert users.column("score").to_pylist() == [2.5, 3.0, 1.0]
    with pytest.raises(dv.UsageError, match="no column"):
        dv.read_table("data/users.csv", columns=["nope"])


def test_diff_table_has_the_shape_of_dv_diff_csv(tables):
    d = dv.diff_table("data/users.csv", "v1", "v2")
    assert d.column_names == ["change", "id", "column", "old", "new"]
    rows = sorted(zip(*[d.column(c).to_pylist() for c in d.column_names]))
    assert rows == [
        ("added", "4", None, None, None),
        ("deleted", "2", None, None, None),
        ("modified", "1", "score", "2.5", "9.5"),
    ]


def test_pandas_pyarrow_duckdb_polars_read_dv_urls(tables):
    import duckdb
    import pandas as pd
    import polars as pl
    import pyarrow.dataset as ds

    df = pd.read_csv("dv://data/users.csv", storage_options={"rev": "v1"})
    assert list(df["name"]) == ["ann", "bob", "cy"]
    assert list(pd.read_csv("dv://data/users.csv?rev=v2")["name"]) == ["ann", "cy", "dee"]
    pdf = pd.read_parquet("dv://data/events.parquet", storage_options={"rev": "v1"})
    assert list(pdf["id"]) == [1, 2, 3]
    fs = fsspec.filesystem("dv", rev="v1")
    assert fs.cat_file("data/users.csv", start=0, end=2) == b"id"
    assert fs.isdir("data") and fs.isfile("data/users.csv")
    assert sorted(fs.ls("data", detail=False)) == ["data/events.parquet", "data/users.csv"]
    dset = ds.dataset("data/events.parquet", filesystem=fs, format="parquet")
    assert dset.to_table().num_rows == 3
    con = duckdb.connect()
    con.register_filesystem(fs)
    assert con.execute("select count(*) from read_csv('dv://data/users.csv')").fetchall() == [(3,)]
    assert pl.read_csv(fs.open("data/users.csv")).height == 3
    assert pl.from_arrow(dv.read_table("data/users.csv", rev="v2")).height == 3
    # The filesystem pickles, pinned to the commit it read.
    fs2 = pickle.loads(pickle.dumps(fs))
    assert fs2.cat_file("data/users.csv") == fs.cat_file("data/users.csv")
    with pytest.raises(FileNotFoundError):
        pd.read_csv("dv://data/none.csv")
