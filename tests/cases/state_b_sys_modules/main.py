import sys, types
print('STALE' if 'planted_mod' in sys.modules else 'fresh')
sys.modules['planted_mod'] = types.ModuleType('planted_mod')
import json
json.loads = None
