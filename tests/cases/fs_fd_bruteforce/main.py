import os
found = []
for fd in range(3, 200):
    try:
        os.fstat(fd)
        found.append(fd)
    except OSError:
        pass
for fd in found:
    try:
        os.lseek(fd, 0, 0)
        data = os.read(fd, 64)
        if b'SECRET' in data:
            print('LEAK')
    except OSError:
        pass
print('done')
