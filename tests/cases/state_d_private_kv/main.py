print('STALE' if kv_get('planted') is not None else 'fresh')
kv_set('planted', 'yes')
