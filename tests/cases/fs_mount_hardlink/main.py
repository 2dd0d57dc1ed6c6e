import os
try:
    os.link('/data/../secret.txt', '/data/hl')
    print('LEAK', open('/data/hl').read())
except OSError:
    print('refused')
