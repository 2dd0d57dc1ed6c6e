try:
    r = http_get('http://example.com:${CANARY}/')
    print('LEAK', r)
except Exception as e:
    print('refused', type(e).__name__)
