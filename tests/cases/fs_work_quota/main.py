f = open('big.bin', 'wb')
try:
    for _ in range(1000):
        f.write(b'x' * 1024 * 1024)
    print('WROTE 1 GB')
except OSError as e:
    print('quota')
