await import('/etc/passwd')
