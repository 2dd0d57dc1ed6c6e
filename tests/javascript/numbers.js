// Numbers, BigInt, Math, formatting, typed arrays, errors.
console.log(0.1 + 0.2, (0.1 + 0.2).toFixed(2), 1 / 3, -0, 2 ** 53 + 1, Number.MAX_SAFE_INTEGER, 1e21, 5e-7);
console.log(2n ** 100n, BigInt.asUintN(8, 257n), 10n / 3n, typeof 1n, 123456789012345678901234567890n * 2n);
console.log(Math.max(3, 9, 2), Math.hypot(3, 4), Math.trunc(-4.7), Math.sign(-3), Math.cbrt(27), Math.clz32(1));
console.log((255).toString(16), (255).toString(2), parseInt('ff', 16), parseFloat('3.14abc'), Number('0x1f'), +'  42  ');
console.log((1234.5678).toFixed(1), (0.000123).toExponential(2), (1234.5678).toPrecision(6), Number.isInteger(5.0));
console.log(new Uint8Array([1, 2, 300]), new Float64Array(2), new Int16Array([-1, 70000]), new Uint8Array(0));
console.log(NaN === NaN, Object.is(NaN, NaN), [NaN].includes(NaN), Infinity - Infinity, 7 % -3, -7 % 3);
try { null.x; } catch (e) { console.log(e instanceof TypeError, e.name); }
try { BigInt(1.5); } catch (e) { console.log(e.name); }
console.log([new Error('plain').message, new RangeError('r').name, Error('x') instanceof Error]);
const err = new Error('with cause', { cause: 'because' });
console.log(err.cause, err.message, Object.prototype.toString.call(err));
