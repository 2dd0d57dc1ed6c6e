import os
try:
    print('RAN', os.popen('id').read())
except Exception:
    print('refused')
