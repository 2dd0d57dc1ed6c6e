for p in ['/proc/self/environ', '/proc/self/maps', '/proc/1/cmdline']:
    try:
        open(p).read()
        print('LEAK', p)
    except OSError:
        print('refused')
