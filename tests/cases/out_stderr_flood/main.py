import sys
for _ in range(10000):
    sys.stderr.write('e' * 1000)
