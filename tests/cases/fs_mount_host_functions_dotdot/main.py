for p in ['/data/../secret.txt', '/data/./../secret.txt', '/data/%2e%2e/secret.txt']:
    try:
        print('LEAK', fs_read(p))
    except Exception as e:
        print('refused')
