"""Modules imported into the snapshot: free at run time.

Everything here is already in memory when a run starts. The rest of the stdlib
loads from bytecode compiled at build time (see goru_build). Adding a module here
makes the snapshot a little larger and its import free; keep it to what users
commonly reach for. Also set up here, once: zoneinfo reading the bundled tzdata,
and urllib.request / `requests` going through the host's HTTP capability.
"""

import importlib

# Where the pinned tzdata package's zone files are at run time (build-runtimes.sh
# adds it to the stdlib tree the host mounts at /python).
TZDATA_ZONES = "/python/tzdata/zoneinfo"

# Time zones loaded into the snapshot: ZoneInfo(key) for these costs no file read.
COMMON_ZONES = """
UTC Etc/UTC GMT Europe/London Europe/Dublin Europe/Lisbon Europe/Paris Europe/Berlin
Europe/Madrid Europe/Rome Europe/Amsterdam Europe/Brussels Europe/Zurich Europe/Vienna
Europe/Stockholm Europe/Warsaw Europe/Athens Europe/Istanbul Europe/Kyiv Europe/Moscow
America/New_York America/Chicago America/Denver America/Phoenix America/Los_Angeles
America/Anchorage America/Toronto America/Vancouver America/Mexico_City America/Sao_Paulo
America/Argentina/Buenos_Aires America/Bogota America/Lima Pacific/Honolulu
Asia/Tokyo Asia/Seoul Asia/Shanghai Asia/Hong_Kong Asia/Singapore Asia/Kolkata
Asia/Dubai Asia/Jakarta Asia/Bangkok Asia/Manila Asia/Jerusalem Asia/Karachi
Australia/Sydney Australia/Melbourne Australia/Perth Pacific/Auckland
Africa/Johannesburg Africa/Cairo Africa/Lagos Africa/Nairobi
""".split()
_zones = []

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
    use_bundled_tzdata()
    install_http()


def use_bundled_tzdata() -> None:
    """Points zoneinfo at the tzdata files, as at a system database, and loads
    the common zones into the snapshot.

    zoneinfo would find tzdata anyway (its fallback imports the package through
    importlib.resources: 20-40 ms per run, measured), but reading the file
    directly costs ~1.5 ms, and a zone already in ZoneInfo's cache ~0.03 ms.
    The cache keeps a zone while something references it: `_zones` does.
    """
    import os
    import zoneinfo

    import goru_build

    site = goru_build.site_dir()
    if site is not None:
        # At build time the files are in the build's output folder.
        zoneinfo.reset_tzpath([os.path.join(site, "tzdata", "zoneinfo")])
        _zones.extend(zoneinfo.ZoneInfo(key) for key in COMMON_ZONES)
    zoneinfo.reset_tzpath([TZDATA_ZONES])


def install_http() -> None:
    """urllib.request and `requests` over the run's HTTP capability (goru_net)."""
    import goru_net

    goru_net.install_urllib()
    importlib.import_module("requests")
