try:
    r = http_get('http://0.0.0.0:${CANARY}/')
    print('LEAK', r)
except Exception as e:
    print('refused', type(e).__name__)
