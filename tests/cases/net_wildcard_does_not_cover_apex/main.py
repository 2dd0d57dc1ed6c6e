try:
    r = http_get('http://corpus.invalid/')
    print('LEAK', r)
except Exception as e:
    print('refused', type(e).__name__)
