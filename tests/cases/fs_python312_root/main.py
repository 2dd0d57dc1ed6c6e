import os
try:
    print(sorted(os.listdir('/')))
except OSError:
    print('no root')
