import atexit
def f():
    while True:
        pass
atexit.register(f)
print('registered')
