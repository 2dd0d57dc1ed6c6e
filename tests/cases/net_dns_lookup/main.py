import socket
try:
    print('LEAK', socket.gethostbyname('localhost'))
except Exception:
    print('refused')
