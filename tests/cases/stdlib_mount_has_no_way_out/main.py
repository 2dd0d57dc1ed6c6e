# `..` from the stdlib preopen must not reach the host directory around it.
try:
    print(os.listdir("/python/../../"))
except NameError:
    import os
    try:
        os.listdir("/python/../..")
        open("/python/../python.wasm", "rb")
        print("ESCAPED")
    except OSError:
        print("refused")
