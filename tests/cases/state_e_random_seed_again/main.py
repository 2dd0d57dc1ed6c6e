import random
print('differs' if repr(random.random()) != kv_get('first') else 'SAME')
