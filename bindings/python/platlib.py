"""Prints where `meson install` puts the package for PREFIX so that this interpreter imports it: Debian's python3
looks in /usr/local/lib/python3.X/dist-packages (prefix /usr/local, scheme posix_local) and
/usr/lib/python3/dist-packages (prefix /usr, deb_system); other prefixes get PREFIX/lib/python3.X/site-packages
(add it to PYTHONPATH). usage: platlib.py PREFIX"""
import sys
import sysconfig

prefix = sys.argv[1].rstrip("/") or "/"
schemes = sysconfig.get_scheme_names()
if prefix == sys.prefix + "/local" and "posix_local" in schemes:
    print(sysconfig.get_path("platlib", "posix_local"))
elif prefix == sys.prefix and "deb_system" in schemes:
    print(sysconfig.get_path("platlib", "deb_system"))
elif prefix == sys.prefix:
    print(sysconfig.get_path("platlib"))
else:
    print(sysconfig.get_path("platlib", "posix_prefix", vars={"base": prefix, "platbase": prefix}))
