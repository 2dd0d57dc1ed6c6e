try:
    import ctypes
    print('LOADED', ctypes.CDLL(None))
except Exception:
    print('refused')
