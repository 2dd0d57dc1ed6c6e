try:
    print('LEAK', open('/etc/passwd').read()[:50])
except OSError as e:
    print('refused')
