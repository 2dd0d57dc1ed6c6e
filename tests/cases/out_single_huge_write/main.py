import sys
sys.stdout.write('z' * 50_000_000)
print('end')
