# Runs right after fresh_namespace_per_run, which monkeypatched json and builtins.
import builtins, json
print("STALE" if hasattr(builtins, "planted") else "fresh", json.dumps({"a": 1}))
