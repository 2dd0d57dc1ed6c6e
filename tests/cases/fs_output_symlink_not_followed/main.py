import os
for target in ['/python/os.py', '/etc/passwd', '/data/../secret.txt']:
    try:
        os.symlink(target, 'link' + str(len(target)))
        print('made')
    except OSError:
        print('refused')
