#!/usr/bin/python3
"""Debian's python3 loads libmemgov.so with ctypes in a fresh process and calls it. This is the guard against
the static-TLS trap (docs/design.md 4.1): with initial-exec TLS the CDLL() call fails with "cannot allocate memory
in static TLS block".

usage: test_ctypes.py LIBRARY EXPECTED_VERSION
"""
import ctypes
import sys
import unittest

MiB = 1 << 20


class Options(ctypes.Structure):
    """memgov_options (governor.h), as a Python caller declares it."""
    _fields_ = [("struct_size", ctypes.c_size_t), ("root_limit", ctypes.c_uint64),
                ("root_soft_limit", ctypes.c_uint64), ("config_file", ctypes.c_char_p),
                ("flags", ctypes.c_uint32), ("proc_root", ctypes.c_char_p)]


class BudgetOptions(ctypes.Structure):
    """memgov_budget_options (budget.h)."""
    _fields_ = [("struct_size", ctypes.c_size_t), ("name", ctypes.c_char_p), ("hard_limit", ctypes.c_uint64),
                ("soft_limit", ctypes.c_uint64), ("flags", ctypes.c_uint32)]

LIB, VERSION = sys.argv[1], sys.argv[2]


class LoadFromPython(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.lib = ctypes.CDLL(LIB)
        cls.lib.memgov_version_string.restype = ctypes.c_char_p
        cls.lib.memgov_build_info.restype = ctypes.c_char_p
        cls.lib.memgov_last_error.restype = ctypes.c_char_p
        cls.lib.memgov_status_name.restype = ctypes.c_char_p
        cls.lib.memgov_root.restype = ctypes.c_void_p
        cls.lib.memgov_root.argtypes = [ctypes.c_void_p]
        cls.lib.memgov_budget_create.argtypes = [ctypes.c_void_p, ctypes.POINTER(BudgetOptions),
                                                 ctypes.POINTER(ctypes.c_void_p)]
        cls.lib.memgov_malloc.restype = ctypes.c_void_p
        cls.lib.memgov_malloc.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
        cls.lib.memgov_free.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
        cls.lib.memgov_budget_destroy.argtypes = [ctypes.c_void_p]
        cls.lib.memgov_close.argtypes = [ctypes.c_void_p]

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

    def test_a_budget_caps_allocation_from_python(self):
        opts = Options(struct_size=ctypes.sizeof(Options), root_limit=64 * MiB, flags=1)  # MEMGOV_OPEN_NO_ENV
        gov = ctypes.c_void_p()
        self.assertEqual(self.lib.memgov_open(ctypes.byref(opts), ctypes.byref(gov)), 0, self.lib.memgov_last_error())
        bopts = BudgetOptions(struct_size=ctypes.sizeof(BudgetOptions), name=b"numpy-buffers", hard_limit=1 * MiB)
        budget = ctypes.c_void_p()
        self.assertEqual(self.lib.memgov_budget_create(self.lib.memgov_root(gov), ctypes.byref(bopts),
                                                       ctypes.byref(budget)), 0)
        block = self.lib.memgov_malloc(budget, 512 * 1024)
        self.assertIsNotNone(block)
        self.assertIsNone(self.lib.memgov_malloc(budget, 1 * MiB))
        self.assertEqual(self.lib.memgov_status_name(self.lib.memgov_last_status()), b"MEMGOV_ENOMEM")
        self.assertIn(b"budget 'numpy-buffers' refused 1.00 MiB", self.lib.memgov_last_error())
        self.assertNotEqual(self.lib.memgov_close(gov), 0)  # busy: the budget still holds a block
        self.lib.memgov_free(budget, block)
        self.assertEqual(self.lib.memgov_budget_destroy(budget), 0)
        self.assertEqual(self.lib.memgov_close(gov), 0)


if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1], verbosity=2)
