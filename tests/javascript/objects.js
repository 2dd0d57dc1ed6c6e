// Objects: spread, optional chaining, getters, symbols, proxies, prototypes.
const user = { name: 'Ada', address: { city: 'London' }, roles: ['admin'] };
const copy = { ...user, name: 'Grace', extra: true };
console.log(copy, user.address?.city, user.phone?.number, user.roles?.[0], user.missing ?? 'default');
const { name, address: { city }, ...others } = user;
console.log(name, city, others);
const obj = { get computed() { return 42; }, set only(v) {}, both: 1 };
Object.defineProperty(obj, 'hidden', { value: 'h', enumerable: false });
console.log(obj, Object.keys(obj), obj.hidden);
const sym = Symbol('tag');
console.log({ [sym]: 'v', [`key${1 + 1}`]: 2 }, Symbol.for('app'), sym.description);
const proxy = new Proxy({}, { get: (t, k) => (typeof k === 'string' ? k.toUpperCase() : undefined) });
console.log(proxy.hello, 'x' in proxy);
const circular = { name: 'loop' };
circular.self = circular;
circular.list = [circular];
console.log(circular);
function Legacy(x) { this.x = x; }
Legacy.prototype.double = function () { return this.x * 2; };
console.log(new Legacy(21).double(), new Legacy(1), Object.entries(new Legacy(2)));
console.log([new Number(3), new String('str'), new Boolean(false)], Object(1n));
