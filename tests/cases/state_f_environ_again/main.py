import os
print('STALE' if 'PLANTED' in os.environ else 'fresh')
