import builtins
print('STALE' if hasattr(builtins, 'planted') else 'fresh')
