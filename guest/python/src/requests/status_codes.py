"""`requests.codes`: status codes by name (`codes.ok`, `codes["not_found"]`)."""

from http import HTTPStatus


class LookupDict(dict):
    def __init__(self, name=None):
        self.name = name
        super().__init__()

    def __repr__(self):
        return f"<lookup '{self.name}'>"

    def __getitem__(self, key):
        return self.__dict__.get(key, None)

    def get(self, key, default=None):
        return self.__dict__.get(key, default)


codes = LookupDict(name="status_codes")
for _status in HTTPStatus:
    for _name in (_status.name.lower(), _status.name):
        setattr(codes, _name, _status.value)
for _alias, _value in {"okay": 200, "all_ok": 200, "not_allowed": 405, "teapot": 418}.items():
    setattr(codes, _alias, _value)
del _status, _name, _alias, _value
