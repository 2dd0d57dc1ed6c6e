import socket, os
try:
    print(socket.gethostname())
except Exception:
    print('none')
print(os.getuid() if hasattr(os, 'getuid') else 'no uid')
