import multiprocessing
try:
    p = multiprocessing.Process(target=print)
    p.start()
    print('STARTED')
except Exception:
    print('refused')
