print(sum(range(10 ** 12)))
