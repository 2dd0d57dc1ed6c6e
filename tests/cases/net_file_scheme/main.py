try:
    r = http_get('file:///etc/passwd')
    print('LEAK', r)
except Exception as e:
    print('refused', type(e).__name__)
