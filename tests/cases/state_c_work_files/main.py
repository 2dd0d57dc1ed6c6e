import os
print('STALE' if os.path.exists('left.txt') else 'fresh')
open('left.txt', 'w').write('x')
open('/tmp/left.txt', 'w').write('x')
