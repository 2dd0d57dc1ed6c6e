new Proxy({}, { get() { throw 1; }, has() { throw 2; }, getPrototypeOf() { throw 3; }, ownKeys() { throw 4; }, getOwnPropertyDescriptor() { throw 5; } })
