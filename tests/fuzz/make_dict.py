#!/usr/bin/python3
"""Writes the libFuzzer dictionary of the configuration targets: every key of src/config/keys.c (as a file key, a
section + short key, and an environment name), the section headers, the units, the bool words and the syntax.
usage: make_dict.py KEYS_C OUT"""
import re
import sys

keys = re.findall(r'K\("([^"]+)"', open(sys.argv[1]).read())
if not keys:
    sys.exit("make_dict.py: no K(\"...\") keys found in " + sys.argv[1])
tokens = set()
for k in keys:
    tokens.add(k)
    section, _, short = k.partition(".")
    tokens.add("[%s]" % section)
    tokens.add(short)
    tokens.add("MEMGOV_" + re.sub(r"[.-]", "_", k).upper())
tokens.update(["[mode.light]", "[mode.minimal]", "[mode.normal]", "[mode.", "MEMGOV_CONFIG_FILE", "export ",
               " = ", "=", "#", ";", "\"", "'", "\r\n", "\n", "\xef\xbb\xbf", "%", "..", "1e-400", "1e308",
               "18446744073709551615", "18446744073709551616", "-1", "0x", "."])
tokens.update(["B", "K", "KiB", "M", "MiB", "G", "GiB", "T", "TiB", "P", "PiB", "KB", "MB", "GB", "TB", "PB", "k",
               "ns", "us", "ms", "s", "min", "h", "true", "false", "yes", "no", "on", "off"])
with open(sys.argv[2], "w") as f:
    for t in sorted(tokens):
        f.write('"%s"\n' % "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "\\x%02x" % ord(c)
                                      for c in t.encode("latin-1").decode("latin-1")))
