import sys, json
print('STALE' if 'planted_mod' in sys.modules else 'fresh', json.loads('[1]'))
