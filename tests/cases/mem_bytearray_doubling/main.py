b = bytearray(1)
while True:
    b = b + b
