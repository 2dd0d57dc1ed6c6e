try:
    fs_write('/data/new.txt', 'x')
    print('LEAK written')
except Exception:
    print('refused')
