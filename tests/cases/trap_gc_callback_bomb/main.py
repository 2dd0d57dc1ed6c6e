import gc
def cb(phase, info):
    raise RuntimeError('cb')
gc.callbacks.append(cb)
gc.collect()
print('went on')
