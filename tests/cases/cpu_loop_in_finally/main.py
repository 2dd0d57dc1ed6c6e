try:
    raise ValueError
finally:
    while True:
        pass
