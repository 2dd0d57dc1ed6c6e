try:
    kv_set('k' * 100000, 'v')
    print('STORED')
except Exception as e:
    print('refused')
