# No sockets: network access only ever goes through granted host functions.
import socket
try:
    socket.create_connection(("127.0.0.1", 22), timeout=1)
    print("CONNECTED")
except OSError:
    print("refused")
