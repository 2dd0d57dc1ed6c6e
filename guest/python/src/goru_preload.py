"""Modules imported into the snapshot: free at run time.

Everything here is already in memory when a run starts. The rest of the stdlib
loads from bytecode compiled at build time (see goru_build). Adding a module here
makes the snapshot a little larger and its import free; keep it to what users
commonly reach for.
"""

import importlib

COMMON = """
abc argparse array ast asyncio base64 binascii bisect builtins calendar cmath codecs
collections collections.abc colorsys contextlib contextvars copy copyreg csv dataclasses
datetime decimal difflib enum errno fnmatch fractions functools gc getopt gettext glob
graphlib gzip hashlib heapq hmac html html.entities html.parser inspect io ipaddress
itertools json json.decoder json.encoder keyword linecache locale logging math numbers
operator os os.path pathlib pickle posixpath pprint queue random re reprlib sched secrets
select shlex shutil signal sqlite3 stat statistics string stringprep struct sys tempfile
textwrap time timeit token tokenize traceback types typing unicodedata urllib
urllib.parse uuid warnings weakref xml xml.dom xml.dom.minidom xml.etree
xml.etree.ElementTree zipfile zlib zoneinfo bz2 lzma
""".split()


def import_common_modules() -> None:
    missing = []
    for name in COMMON:
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(name)
    # Record what this CPython build lacks (bz2, lzma, ...) for the build log.
    if missing:
        print(f"goru build: not preloaded (unavailable in this CPython): {' '.join(missing)}")
