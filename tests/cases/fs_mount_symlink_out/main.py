import os
try:
    os.symlink('..', '/data/up')
except OSError:
    print('no symlink')
try:
    print('LEAK', open('/data/up/secret.txt').read())
except OSError:
    print('refused')
