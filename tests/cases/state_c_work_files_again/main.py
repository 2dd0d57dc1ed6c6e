import os
print('STALE' if os.path.exists('left.txt') or os.path.exists('/tmp/left.txt') else 'fresh')
