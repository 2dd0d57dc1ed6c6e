try:
    r = http_get('http://[::1]:${CANARY}/')
    print('LEAK', r)
except Exception as e:
    print('refused', type(e).__name__)
