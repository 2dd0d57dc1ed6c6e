for args in [(1, 'v'), ('k', 1), (None, None), (b'k', b'v')]:
    try:
        kv_set(*args)
        print('stored', args)
    except Exception as e:
        print('refused')
