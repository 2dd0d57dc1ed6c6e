for p in ['/data/../secret.txt', '/data/../../secret.txt']:
    try:
        print('LEAK', open(p).read())
    except OSError:
        print('refused')
