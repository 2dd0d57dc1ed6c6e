class R:
    def __repr__(self):
        return 'q' * 10 ** 7
R()
