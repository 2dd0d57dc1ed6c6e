try:
    r = http_get('http://169.254.169.254/latest/meta-data/')
    print('LEAK', r)
except Exception as e:
    print('refused', type(e).__name__)
