try:
    open("/etc/passwd").read()
    print("LEAK")
except OSError:
    print("refused")
