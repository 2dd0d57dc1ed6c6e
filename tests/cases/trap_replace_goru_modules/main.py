import sys
for name in list(sys.modules):
    if name.startswith('goru'):
        sys.modules[name] = None
raise ValueError('x' * 100000)
