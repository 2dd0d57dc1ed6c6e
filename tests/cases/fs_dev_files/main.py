for p in ['/dev/mem', '/dev/sda', '/dev/tty']:
    try:
        open(p, 'rb').read(1)
        print('LEAK', p)
    except OSError:
        print('refused')
