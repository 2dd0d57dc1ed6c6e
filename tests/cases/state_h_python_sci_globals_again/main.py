import builtins, numpy
print('STALE' if hasattr(builtins, 'planted') or hasattr(numpy, 'planted') else 'fresh')
