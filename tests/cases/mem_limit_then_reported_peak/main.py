b = bytearray(40 * 1024 * 1024)
print(len(b))
