import os
try:
    os.symlink('/etc/passwd', '/data/pw')
    print('LEAK', open('/data/pw').read()[:20])
except OSError:
    print('refused')
