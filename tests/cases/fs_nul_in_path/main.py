try:
    open('a\x00b', 'w')
    print('OPENED')
except (ValueError, OSError):
    print('refused')
