n = 0
try:
    for i in range(1000000):
        kv_set(f'k{i}', 'v' * 1000)
        n += 1
    print('ALL')
except Exception:
    print('stopped')
