try:
    open('/python/os.py', 'w').write('evil')
    print('LEAK')
except OSError:
    print('refused')
