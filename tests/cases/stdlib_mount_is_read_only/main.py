# The stdlib is mounted read-only: a run cannot plant code for a later import.
import os
for attempt in (lambda: open("/python/evil.py", "w"), lambda: os.remove("/python/json/__init__.py")):
    try:
        attempt()
        print("WRITABLE")
    except OSError:
        print("refused")
