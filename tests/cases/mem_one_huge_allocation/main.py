try:
    b = bytearray(1536 * 1024 * 1024)
    print('ALLOCATED')
except MemoryError:
    print('refused')
