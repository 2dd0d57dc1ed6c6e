import threading
try:
    threading.Thread(target=lambda: None).start()
    print('STARTED')
except Exception as e:
    print('refused')
