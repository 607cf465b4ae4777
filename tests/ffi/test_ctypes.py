#!/usr/bin/python3
"""Debian's python3 loads libmemgov.so with ctypes in a fresh process and calls it. This is the guard against
the static-TLS trap (DESIGN.md 3.1): with initial-exec TLS the CDLL() call fails with "cannot allocate memory
in static TLS block".

usage: test_ctypes.py LIBRARY EXPECTED_VERSION
"""
import ctypes
import sys
import unittest

LIB, VERSION = sys.argv[1], sys.argv[2]


class LoadFromPython(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.lib = ctypes.CDLL(LIB)
        cls.lib.memgov_version_string.restype = ctypes.c_char_p
        cls.lib.memgov_build_info.restype = ctypes.c_char_p
        cls.lib.memgov_last_error.restype = ctypes.c_char_p
        cls.lib.memgov_status_name.restype = ctypes.c_char_p

    def test_version_string_matches_the_build(self):
        self.assertEqual(self.lib.memgov_version_string().decode(), VERSION)

    def test_jemalloc_answers_from_inside_the_loaded_library(self):
        self.assertIn("jemalloc=5.3.0", self.lib.memgov_build_info().decode())

    def test_errors_reach_python_with_their_message(self):
        out = ctypes.c_int(0)
        status = self.lib.memgov_dtype_from_name(b"complex64", ctypes.byref(out))
        self.assertEqual(self.lib.memgov_status_name(status), b"MEMGOV_ENOTFOUND")
        self.assertEqual(self.lib.memgov_last_status(), status)
        self.assertIn(b"complex64", self.lib.memgov_last_error())


if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1], verbosity=2)
