#!/usr/bin/python3
"""The CSV chunker against Python's csv module as the oracle: random files written by csv.writer (quoted fields
with delimiters, doubled quotes, LF and CRLF inside quotes, CRLF or LF line ends, empty fields, a header) are
cut by memgov_csv_* (through ctypes, every target size and thread count tried); each chunk, with the header
prepended, must parse alone with csv.reader into whole records, and the records of all chunks in order must
equal csv.reader's records of the whole file.

usage: test_csv_oracle.py LIBRARY
"""
import csv
import ctypes
import io
import os
import random
import sys
import tempfile
import unittest


class CsvOptions(ctypes.Structure):
    """memgov_csv_options (chunk.h)."""
    _fields_ = [("struct_size", ctypes.c_size_t), ("target_bytes", ctypes.c_uint64), ("has_header", ctypes.c_int),
                ("delimiter", ctypes.c_char), ("quote", ctypes.c_char), ("threads", ctypes.c_uint32),
                ("buffer_bytes", ctypes.c_uint64), ("budget", ctypes.c_void_p)]


class CsvChunk(ctypes.Structure):
    """memgov_csv_chunk (chunk.h)."""
    _fields_ = [("struct_size", ctypes.c_size_t), ("offset", ctypes.c_uint64), ("length", ctypes.c_uint64),
                ("index", ctypes.c_uint64), ("flags", ctypes.c_uint32)]


MEMGOV_ENOTFOUND = 5
LIB = ctypes.CDLL(sys.argv[1])
LIB.memgov_last_error.restype = ctypes.c_char_p
LIB.memgov_csv_open.argtypes = [ctypes.c_char_p, ctypes.POINTER(CsvOptions), ctypes.POINTER(ctypes.c_void_p)]
LIB.memgov_csv_next.argtypes = [ctypes.c_void_p, ctypes.POINTER(CsvChunk)]
LIB.memgov_csv_header.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_uint64)]
LIB.memgov_csv_close.argtypes = [ctypes.c_void_p]


def chunk_file(path, target, threads, header, delimiter=b",", quote=b'"'):
    opts = CsvOptions()
    LIB.memgov_csv_options_init(ctypes.byref(opts))
    opts.target_bytes, opts.threads, opts.has_header = target, threads, header
    opts.delimiter, opts.quote, opts.buffer_bytes = delimiter, quote, 64 * 1024
    handle = ctypes.c_void_p()
    st = LIB.memgov_csv_open(path.encode(), ctypes.byref(opts), ctypes.byref(handle))
    if st != 0:
        raise RuntimeError(LIB.memgov_last_error().decode())
    try:
        hlen = ctypes.c_uint64()
        LIB.memgov_csv_header(handle, ctypes.byref(hlen))
        chunks = []
        while True:
            c = CsvChunk(struct_size=ctypes.sizeof(CsvChunk))
            st = LIB.memgov_csv_next(handle, ctypes.byref(c))
            if st == MEMGOV_ENOTFOUND:
                return hlen.value, chunks
            if st != 0:
                raise RuntimeError(LIB.memgov_last_error().decode())
            chunks.append((c.offset, c.length, c.flags))
    finally:
        LIB.memgov_csv_close(handle)


def parse(data, delimiter=",", quotechar='"'):
    # latin-1 keeps every byte as one character; newline='' keeps CR and LF as they are.
    return list(csv.reader(io.StringIO(data.decode("latin-1"), newline=""), delimiter=delimiter,
                           quotechar=quotechar, strict=True))


def random_field(rng):
    kind = rng.random()
    if kind < 0.1:
        return ""
    alphabet = "abcxyz0123456789 " + ("\",\n\r;" if kind < 0.5 else "") + ("é" if kind > 0.9 else "")
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 30 if kind < 0.95 else 3000)))


def random_file(rng, path, delimiter=",", quotechar='"'):
    cols = rng.randint(1, 6)
    rows = rng.randint(0, 400)
    quoting = rng.choice([csv.QUOTE_MINIMAL, csv.QUOTE_ALL, csv.QUOTE_NONNUMERIC])
    terminator = rng.choice(["\r\n", "\n"])
    buf = io.StringIO(newline="")
    w = csv.writer(buf, delimiter=delimiter, quotechar=quotechar, quoting=quoting, lineterminator=terminator)
    w.writerow([f"col{i}" for i in range(cols)])
    for _ in range(rows):
        w.writerow([random_field(rng) for _ in range(cols)])
    text = buf.getvalue()
    if text and rng.random() < 0.3:
        text = text[:-len(terminator)]  # no final line end
    with open(path, "wb") as f:
        f.write(text.encode("utf-8"))


class AgainstPythonCsv(unittest.TestCase):
    def check(self, path, delimiter=",", quotechar='"', seed=0):
        data = open(path, "rb").read()
        want = parse(data, delimiter, quotechar)
        rng = random.Random(seed)
        for target in sorted({1, 17, 200, rng.randint(1, 5000), 70000, 1 << 22}):
            for threads in (1, 4):
                hlen, chunks = chunk_file(path, target, threads, 1, delimiter.encode(), quotechar.encode())
                header = data[:hlen]
                got = parse(header, delimiter, quotechar) if hlen else []
                pos = hlen
                for off, length, flags in chunks:
                    self.assertEqual(off, pos)
                    piece = data[off:off + length]
                    if not flags & 1:
                        self.assertLessEqual(length, target)
                    rows = parse(header + piece, delimiter, quotechar)
                    self.assertEqual(rows[:len(parse(header, delimiter, quotechar))], parse(header, delimiter, quotechar))
                    got.extend(rows[len(parse(header, delimiter, quotechar)):])
                    pos = off + length
                self.assertEqual(pos, len(data))
                self.assertEqual(got, want, f"{path}: target {target}, threads {threads}")

    def test_random_files(self):
        rng = random.Random(20261201)
        with tempfile.TemporaryDirectory() as d:
            for i in range(40):
                path = os.path.join(d, f"r{i}.csv")
                random_file(rng, path)
                self.check(path, seed=i)

    def test_other_quote_and_delimiter(self):
        rng = random.Random(7)
        with tempfile.TemporaryDirectory() as d:
            for i in range(10):
                path = os.path.join(d, f"s{i}.csv")
                random_file(rng, path, delimiter=";", quotechar="'")
                self.check(path, delimiter=";", quotechar="'", seed=i)

    def test_unterminated_quote(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "open.csv")
            with open(path, "wb") as f:
                f.write(b'a,b\n1,2\n3,"open\n4,5\n')
            with self.assertRaises(csv.Error):
                parse(open(path, "rb").read())
            with self.assertRaisesRegex(RuntimeError, r"quote at byte 10 \(line 3\) is never closed"):
                chunk_file(path, 1000, 2, 1)


if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1])
