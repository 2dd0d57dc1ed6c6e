class E(Exception):
    def __str__(self):
        raise RuntimeError('nested')
raise E()
