try:
    kv_set('k', 'v' * (2 * 1024 * 1024))
    print('STORED')
except Exception as e:
    print('refused')
