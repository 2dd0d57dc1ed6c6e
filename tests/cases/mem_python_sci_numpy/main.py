import numpy as np
a = np.ones((1024, 1024, 1024), dtype=np.uint8)
print(a.sum())
