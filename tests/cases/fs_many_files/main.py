n = 0
try:
    for i in range(100000):
        open(f'f{i}', 'w').close()
        n += 1
    print('ALL', n)
except OSError:
    print('stopped')
