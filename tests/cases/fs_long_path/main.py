try:
    open('a' * 100000, 'w')
    print('OPENED')
except OSError:
    print('refused')
