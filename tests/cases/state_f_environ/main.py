import os
print('STALE' if 'PLANTED' in os.environ else 'fresh')
os.environ['PLANTED'] = '1'
