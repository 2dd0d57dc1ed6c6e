import socket
try:
    s = socket.create_connection(('127.0.0.1', ${LISTENER}), timeout=1)
    print('CONNECTED')
except OSError:
    print('refused')
