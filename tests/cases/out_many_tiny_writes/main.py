import sys
for i in range(200000):
    sys.stdout.write('.')
