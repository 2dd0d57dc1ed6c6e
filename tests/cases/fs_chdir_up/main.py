import os
try:
    for _ in range(20):
        os.chdir('..')
    print(os.getcwd(), sorted(os.listdir('.')))
except OSError:
    print('refused')
