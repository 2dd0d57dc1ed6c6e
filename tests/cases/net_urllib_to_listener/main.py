import urllib.request
try:
    urllib.request.urlopen('http://127.0.0.1:${LISTENER}/', timeout=1)
    print('CONNECTED')
except Exception:
    print('refused')
