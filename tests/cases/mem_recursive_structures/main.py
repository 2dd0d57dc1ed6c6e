x = []
while True:
    x = [x, x, ' ' * 100000]
