"""memgov.read_csv_chunks and memgov.knn (memgov/chunk.h, memgov/knn.h): concatenated chunks equal
pandas.read_csv on files with quoted newlines, doubled quotes and CRLF; chunk sizes from the planner follow the
budget; errors; knn against scikit-learn-free brute force in numpy, under a tiny budget cap."""
import csv
import random

import numpy as np
import pandas
import pytest

import memgov

MiB = 1 << 20


def write_csv(path, rows, seed=1, sep=",", quotechar='"', terminator="\r\n"):
    rng = random.Random(seed)
    with open(path, "w", newline="") as f:
        w = csv.writer(f, delimiter=sep, quotechar=quotechar, lineterminator=terminator)
        w.writerow(["id", "text", "value"])
        for i in range(rows):
            # never numeric-looking: pandas infers each chunk's dtypes on its own (as with its chunksize)
            text = rng.choice(["plain", 'say "hi"', "two\nlines", "a,b", "x\r\ny", "none", "trailing space "])
            w.writerow([i, text + str(rng.randint(0, 99)), rng.randint(-1000, 1000)])


def test_chunks_concatenate_to_read_csv(tmp_path):
    path = tmp_path / "quoted.csv"
    write_csv(path, 3000)
    want = pandas.read_csv(path)
    for rows in (1, 7, 500, 100000):
        chunks = list(memgov.read_csv_chunks(str(path), rows=rows))
        assert len(chunks) >= min(3000 // max(rows, 1), 2) or rows >= 3000
        got = pandas.concat(chunks, ignore_index=True)
        pandas.testing.assert_frame_equal(got, want)
    assert any("\n" in t for t in want["text"])  # the file has quoted newlines


def test_other_separator_and_quote(tmp_path):
    path = tmp_path / "semi.csv"
    write_csv(path, 800, seed=2, sep=";", quotechar="'", terminator="\n")
    want = pandas.read_csv(path, sep=";", quotechar="'")
    got = pandas.concat(memgov.read_csv_chunks(str(path), rows=50, sep=";", quotechar="'"), ignore_index=True)
    pandas.testing.assert_frame_equal(got, want)


def test_planner_sizes_chunks_from_the_budget(gov, tmp_path):
    path = tmp_path / "big.csv"
    write_csv(path, 20000, seed=3)
    small = gov.budget("small", hard=256 * 1024)
    few = list(memgov.read_csv_chunks(str(path), budget=small))
    large = gov.budget("large", hard=64 * MiB)
    many = list(memgov.read_csv_chunks(str(path), budget=large))
    assert len(few) > len(many)  # less headroom, smaller chunks
    pandas.testing.assert_frame_equal(pandas.concat(few, ignore_index=True), pandas.read_csv(path))
    assert small.stats().used == 0  # the read buffer was given back


def test_unterminated_quote_names_offset_and_line(tmp_path):
    path = tmp_path / "open.csv"
    path.write_bytes(b'a,b\n1,2\n3,"open\n4,5\n')
    with pytest.raises(memgov.ParseError, match=r"quote at byte 10 \(line 3\)"):
        list(memgov.read_csv_chunks(str(path), rows=1))
    with pytest.raises(memgov.NotFoundError):
        list(memgov.read_csv_chunks(str(tmp_path / "missing.csv")))
    with pytest.raises(ValueError):
        list(memgov.read_csv_chunks(str(path), sep="::"))


def brute(base, queries, k, exclude_self):
    d = ((queries[:, None, :].astype(np.float64) - base[None, :, :]) ** 2).sum(-1)
    if exclude_self:
        np.fill_diagonal(d, np.inf)
    order = np.lexsort((np.broadcast_to(np.arange(base.shape[0]), d.shape), d), axis=-1)[:, :k]
    return order, np.take_along_axis(d, order, axis=1)


def test_knn_matches_brute_force_with_duplicates():
    rng = np.random.default_rng(0)
    base = rng.integers(-3, 4, size=(400, 6)).astype(np.float32)
    base[::5] = base[1::5][: len(base[::5])]  # duplicates: exact ties, broken by the lower index
    queries = rng.integers(-3, 4, size=(50, 6)).astype(np.float32)
    if not hasattr(memgov, "knn"):
        pytest.fail("memgov.knn is missing")
    idx, dist = memgov.knn(base, queries, k=8)
    want_idx, want_dist = brute(base, queries, 8, False)
    np.testing.assert_array_equal(idx, want_idx)
    np.testing.assert_array_equal(dist, want_dist.astype(np.float32))
    gidx, _ = memgov.knn(base, k=5)  # the graph: no row lists itself
    assert not (gidx == np.arange(400)[:, None]).any()
    np.testing.assert_array_equal(gidx, brute(base, base, 5, True)[0])


def test_knn_under_a_tiny_cap_is_the_same(gov):
    rng = np.random.default_rng(1)
    base = rng.standard_normal((1500, 16)).astype(np.float32)
    big = memgov.knn(base, k=10)
    cap = gov.budget("scratch", hard=8 * 1024)
    small = memgov.knn(base, k=10, budget=cap)
    np.testing.assert_array_equal(big[0], small[0])
    np.testing.assert_array_equal(big[1], small[1])
    assert cap.stats().peak <= 8 * 1024
    tiny = gov.budget("tiny", hard=64)
    with pytest.raises(memgov.BudgetExceededError, match="smaller than one query"):
        memgov.knn(base, k=10, budget=tiny)
    with pytest.raises(ValueError):
        memgov.knn(base, metric="manhattan")
