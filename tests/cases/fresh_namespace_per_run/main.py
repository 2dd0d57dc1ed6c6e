# State from an earlier run (the cases run one after another) is never visible.
import builtins, json
if hasattr(builtins, "planted") or getattr(json, "planted", False):
    print("STALE")
else:
    print("fresh")
builtins.planted = True
json.planted = True
json.dumps = None
