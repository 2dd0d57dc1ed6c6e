for ttl in [-1, 0, float('nan'), 10 ** 30]:
    try:
        kv_set('k', 'v', ttl)
        print('stored', ttl)
    except Exception:
        print('refused')
